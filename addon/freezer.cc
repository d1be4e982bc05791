#include "freezer.h"

#include <chrono>
#include <map>
#include <memory>
#include <mutex>

#include "preconditions.h"

namespace lxcts {
namespace {

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

}  // namespace

void FreezeOrThaw(lxc_container* c, const std::string& subject, bool freeze, Outcome& out) {
  const char* lxcpath = c->get_config_path(c);  // liblxc's string: not ours to free
  std::string key = std::string(lxcpath != nullptr ? lxcpath : "") + '\0' + c->name;
  std::shared_ptr<std::timed_mutex> lock = FreezerLocks::For(key);
  std::unique_lock<std::timed_mutex> held(*lock, std::defer_lock);
  if (!held.try_lock_for(std::chrono::seconds(kFreezerLockSeconds))) {
    return out.Refuse("LXC_TIMEOUT", "another freeze or unfreeze of " + subject + " did not finish within " +
                                         std::to_string(kFreezerLockSeconds) + " s");
  }
  // Checked under the lock: a stop racing this call is liblxc's to sort out, but a call
  // that waited for the lock must not act on what it saw before.
  if (!RequireRunning(c, subject, out)) return;
  if (freeze) {
    if (!c->freeze(c)) out.Fail("LXC_FREEZE_FAILED", "freezing " + subject + " failed");
  } else {
    if (!c->unfreeze(c)) out.Fail("LXC_UNFREEZE_FAILED", "unfreezing " + subject + " failed");
  }
}

}  // namespace lxcts
