#include "teardown.h"

#include <dlfcn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <set>
#include <thread>

namespace lxcts {

void PinAddon() {
  // dladdr finds the file this function was loaded from; reopening it with RTLD_NOLOAD
  // takes one more reference and RTLD_NODELETE makes the unload a no-op. Either is enough;
  // the reference is never dropped.
  Dl_info info;
  if (dladdr(reinterpret_cast<void*>(&PinAddon), &info) == 0 || info.dli_fname == nullptr) return;
  dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
}

std::shared_ptr<EnvTeardown> EnvTeardown::Install(napi_env env) {
  auto teardown = std::make_shared<EnvTeardown>();
  teardown->hookRef_ = new std::shared_ptr<EnvTeardown>(teardown);
  if (napi_add_async_cleanup_hook(env, OnTeardown, teardown->hookRef_, nullptr) != napi_ok) {
    delete teardown->hookRef_;
    teardown->hookRef_ = nullptr;
  }
  return teardown;
}

EnvTeardown::Token EnvTeardown::Opened(std::function<void()> closeNow) {
  Token token = next_++;
  open_.emplace(token, std::move(closeNow));
  return token;
}

void EnvTeardown::Closing(Token token) {
  open_.erase(token);
  closing_++;
}

void EnvTeardown::CloseDone() {
  closing_--;
  MaybeFinish();
}

void ReapInBackground(pid_t pid) {
  std::thread([pid]() {
    pid_t r;
    do r = waitpid(pid, nullptr, 0);
    while (r < 0 && errno == EINTR);
  }).detach();
}

void EnvTeardown::Unclaimed(pid_t pid, std::vector<int> fds, bool ownChild) {
  std::lock_guard<std::mutex> lock(handedMutex_);
  handed_[pid] = Handed{std::move(fds), ownChild};
}

void EnvTeardown::Claimed(pid_t pid) {
  std::lock_guard<std::mutex> lock(handedMutex_);
  handed_.erase(pid);
}

void EnvTeardown::FreeUnclaimed(pid_t pid) {
  Handed what;
  {
    std::lock_guard<std::mutex> lock(handedMutex_);
    auto it = handed_.find(pid);
    if (it == handed_.end()) return;
    what = std::move(it->second);
    handed_.erase(it);
  }
  what.Free(pid);
}

void EnvTeardown::Handed::Free(pid_t pid) const {
  // With a terminal, stdin and stdout may be one descriptor: close each once.
  for (int fd : std::set<int>(fds.begin(), fds.end())) {
    if (fd >= 0) close(fd);
  }
  if (ownChild) ReapInBackground(pid);
}

void EnvTeardown::OnTeardown(napi_async_cleanup_hook_handle handle, void* arg) {
  EnvTeardown* self = static_cast<std::shared_ptr<EnvTeardown>*>(arg)->get();
  self->ending_->store(true);
  self->hook_ = handle;
  std::map<pid_t, Handed> handed;
  {
    std::lock_guard<std::mutex> lock(self->handedMutex_);
    handed.swap(self->handed_);
  }
  for (auto& [pid, what] : handed) what.Free(pid);
  // Each closer calls Closing(), which edits open_: work on a copy.
  std::map<Token, std::function<void()>> open = self->open_;
  for (auto& entry : open) entry.second();
  self->open_.clear();
  self->MaybeFinish();
}

void EnvTeardown::MaybeFinish() {
  if (hook_ == nullptr || closing_ > 0 || !open_.empty()) return;
  // Node spins the loop until this is called; after it, the loop may close.
  napi_async_cleanup_hook_handle hook = hook_;
  hook_ = nullptr;
  std::shared_ptr<EnvTeardown>* ref = hookRef_;
  hookRef_ = nullptr;
  napi_remove_async_cleanup_hook(hook);
  delete ref;  // may delete this: nothing after it
}

}  // namespace lxcts
