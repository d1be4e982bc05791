#include "teardown.h"

#include <dlfcn.h>

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

void EnvTeardown::OnTeardown(napi_async_cleanup_hook_handle handle, void* arg) {
  EnvTeardown* self = static_cast<std::shared_ptr<EnvTeardown>*>(arg)->get();
  self->ending_->store(true);
  self->hook_ = handle;
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
