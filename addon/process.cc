#include "process.h"

#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include "args.h"

namespace lxcts {

Napi::Function ProcessHandle::Define(Napi::Env env) {
  return DefineClass(env, "NativeProcess", {
      InstanceMethod<&ProcessHandle::Wait>("wait"),
      InstanceMethod<&ProcessHandle::Kill>("kill"),
  });
}

ProcessHandle::ProcessHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ProcessHandle>(info) {
  pid_ = static_cast<pid_t>(IntegerArg(info, 0, "pid"));
  pidfd_ = static_cast<int>(IntegerArg(info, 1, "pidfd"));
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(info.Env(), &loop) != napi_ok || loop == nullptr) {
    throw Napi::Error::New(info.Env(), "lxcts: no event loop to watch the process on");
  }
  context_ = std::make_unique<Napi::AsyncContext>(info.Env(), "lxcts-process");
  poll_ = new uv_poll_t;
  poll_->data = this;
  if (uv_poll_init(loop, poll_, pidfd_) != 0) {
    delete poll_;  // never linked into the loop
    poll_ = nullptr;
    Reap();  // cannot watch: wait here rather than leave a zombie
    return;
  }
  if (uv_poll_start(poll_, UV_READABLE, OnReadable) != 0) {
    StopWatching();  // the handle is in the loop now: it must be closed, not deleted
    pid_t r;
    do r = waitpid(pid_, nullptr, 0); while (r < 0 && errno == EINTR);
    exited_ = true;
    return;
  }
  self_ = Napi::Persistent(Value());
}

ProcessHandle::~ProcessHandle() {
  // Only reached once the process was reaped (self_ holds us until then), or at
  // environment teardown, when stopping the watch is all that is left to do.
  StopWatching();
}

void ProcessHandle::StopWatching() {
  if (poll_ != nullptr) {
    uv_poll_stop(poll_);
    // libuv requires the handle to stay valid until its close callback; the pidfd must
    // stay open until then too.
    poll_->data = reinterpret_cast<void*>(static_cast<intptr_t>(pidfd_));
    uv_close(reinterpret_cast<uv_handle_t*>(poll_), [](uv_handle_t* handle) {
      close(static_cast<int>(reinterpret_cast<intptr_t>(handle->data)));
      delete reinterpret_cast<uv_poll_t*>(handle);
    });
    poll_ = nullptr;
    pidfd_ = -1;
  } else if (pidfd_ >= 0) {
    close(pidfd_);
    pidfd_ = -1;
  }
}

void ProcessHandle::OnReadable(uv_poll_t* poll, int status, int events) {
  auto* self = static_cast<ProcessHandle*>(poll->data);
  Napi::Env env = self->Env();
  Napi::HandleScope scope(env);
  Napi::CallbackScope callbackScope(env, *self->context_);
  self->Reap();
}

void ProcessHandle::Reap() {
  int status = 0;
  pid_t r;
  // Readable means exited; with no watch (poll failed), block: the command is ours to wait for.
  do {
    r = waitpid(pid_, &status, poll_ != nullptr ? WNOHANG : 0);
  } while (r < 0 && errno == EINTR);
  if (r == 0) return;  // spurious wake-up
  exited_ = true;
  if (r > 0 && WIFEXITED(status)) {
    exitCode_ = WEXITSTATUS(status);
  } else if (r > 0 && WIFSIGNALED(status)) {
    signal_ = WTERMSIG(status);
  }  // r < 0 (someone else reaped it): report neither code nor signal
  StopWatching();
  std::vector<Napi::Promise::Deferred> waiters = std::move(waiters_);
  for (auto& deferred : waiters) Settle(deferred);
  if (!self_.IsEmpty()) self_.Reset();
}

void ProcessHandle::Settle(Napi::Promise::Deferred& deferred) {
  Napi::Env env = Env();
  Napi::Object result = Napi::Object::New(env);
  result.Set("exitCode", exitCode_ >= 0 ? Napi::Number::New(env, exitCode_) : env.Null());
  result.Set("signal", signal_ > 0 ? Napi::Number::New(env, signal_) : env.Null());
  deferred.Resolve(result);
}

Napi::Value ProcessHandle::Wait(const Napi::CallbackInfo& info) {
  Napi::Promise::Deferred deferred = Napi::Promise::Deferred::New(info.Env());
  if (exited_) {
    Settle(deferred);
  } else {
    waiters_.push_back(deferred);
  }
  return deferred.Promise();
}

Napi::Value ProcessHandle::Kill(const Napi::CallbackInfo& info) {
  int sig = static_cast<int>(IntegerArg(info, 0, "signal"));
  if (exited_ || pidfd_ < 0) return Napi::Boolean::New(info.Env(), false);
  bool sent = syscall(SYS_pidfd_send_signal, pidfd_, sig, nullptr, 0) == 0;
  return Napi::Boolean::New(info.Env(), sent);
}

}  // namespace lxcts
