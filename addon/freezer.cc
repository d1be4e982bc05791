#include "freezer.h"

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "preconditions.h"

namespace lxcts {
namespace {

using Clock = std::chrono::steady_clock;

// The one piece of process-wide state in the addon, on purpose: the freezer belongs to the
// host, and every environment in this process (main thread, workers) writes the same
// file, so a lock per environment would not keep a worker from racing the main thread.
// Entries are weak: a container's lock lives while a call holds or waits for it.
class FreezerLocks {
 public:
  static std::shared_ptr<std::timed_mutex> For(const std::string& key) {
    static FreezerLocks registry;
    std::lock_guard<std::mutex> guard(registry.mutex_);
    for (auto it = registry.locks_.begin(); it != registry.locks_.end();) {
      it = it->second.expired() ? registry.locks_.erase(it) : std::next(it);
    }
    std::shared_ptr<std::timed_mutex> lock = registry.locks_[key].lock();
    if (!lock) {
      lock = std::make_shared<std::timed_mutex>();
      registry.locks_[key] = lock;
    }
    return lock;
  }

 private:
  std::mutex mutex_;
  std::map<std::string, std::weak_ptr<std::timed_mutex>> locks_;
};

// The liblxc call, on a thread that may outlive the caller's wait.
struct FreezerCall {
  std::mutex mutex;
  std::condition_variable finished;
  bool done = false;
  bool ok = false;
};

std::string FreezerState(lxc_container* c) {
  char value[32] = "";
  if (c->get_cgroup_item(c, "freezer.state", value, sizeof value) <= 0) return "";
  std::string state(value);
  while (!state.empty() && (state.back() == '\n' || state.back() == ' ')) state.pop_back();
  return state;
}

}  // namespace

void FreezeOrThaw(lxc_container* c, const std::string& subject, bool freeze, int timeoutSeconds, Outcome& out) {
  const char* configPath = c->get_config_path(c);  // liblxc's string: not ours to free
  std::string lxcpath = configPath != nullptr ? configPath : "";
  std::string name = c->name;
  const auto deadline = Clock::now() + std::chrono::seconds(timeoutSeconds < 0 ? 0 : timeoutSeconds);
  const std::string what = std::string(freeze ? "freezing " : "unfreezing ") + subject;
  const std::string limit = " within " + std::to_string(timeoutSeconds) + " s";

  std::shared_ptr<std::timed_mutex> lock = FreezerLocks::For(lxcpath + '\0' + name);
  std::unique_lock<std::timed_mutex> held(*lock, std::defer_lock);
  if (timeoutSeconds < 0) {
    held.lock();
  } else if (!held.try_lock_until(deadline)) {
    return out.Refuse("LXC_TIMEOUT", what + " did not start" + limit + ": another freeze or unfreeze of it is still running");
  }
  // Checked under the lock: a call that waited must not act on what it saw before.
  if (!RequireRunning(c, subject, out)) return;

  auto call = std::make_shared<FreezerCall>();
  std::thread([call, name, lxcpath, freeze]() {
    bool ok = false;
    lxc_container* own = lxc_container_new(name.c_str(), lxcpath.empty() ? nullptr : lxcpath.c_str());
    if (own != nullptr) {
      ok = freeze ? own->freeze(own) : own->unfreeze(own);
      lxc_container_put(own);
    }
    std::lock_guard<std::mutex> guard(call->mutex);
    call->done = true;
    call->ok = ok;
    call->finished.notify_all();
  }).detach();

  std::unique_lock<std::mutex> waiting(call->mutex);
  // A cgroup v1 freeze can stay FREEZING while new processes keep appearing in the cgroup
  // (a container's init starting its services right after start): the kernel only freezes
  // the tasks it finds when FROZEN is written. As runc does, write FROZEN again while it
  // reads FREEZING, and now and then thaw first, so the stragglers are caught.
  for (int attempt = 1; freeze && !call->done; attempt++) {
    if (call->finished.wait_for(waiting, std::chrono::milliseconds(100), [&] { return call->done; })) break;
    if (timeoutSeconds >= 0 && Clock::now() >= deadline) break;
    waiting.unlock();
    if (FreezerState(c) == "FREEZING") {
      if (attempt % 20 == 0) c->set_cgroup_item(c, "freezer.state", "THAWED");
      c->set_cgroup_item(c, "freezer.state", "FROZEN");
    }
    waiting.lock();
  }
  if (timeoutSeconds < 0) {
    call->finished.wait(waiting, [&] { return call->done; });
  } else if (!call->finished.wait_until(waiting, deadline, [&] { return call->done; })) {
    waiting.unlock();
    std::string state = FreezerState(c);
    return out.Fail("LXC_TIMEOUT", what + " did not finish" + limit + (state.empty() ? "" : " (the freezer reads " + state + ")") +
                                       "; something outside this process may be changing the freezer. liblxc keeps "
                                       "waiting for it in the background");
  }
  if (!call->ok) out.Fail(freeze ? "LXC_FREEZE_FAILED" : "LXC_UNFREEZE_FAILED", what + " failed");
}

}  // namespace lxcts
