#include "process.h"

#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "addon_data.h"
#include "args.h"
#include "attach_wire.h"
#include "errors.h"

namespace lxcts {
namespace {

// What a closed poll handle still owns until libuv's close callback.
struct Closing {
  uv_poll_t poll;
  std::shared_ptr<EnvTeardown> teardown;  // told when the close is done
};

}  // namespace

Napi::Function NativeProcess::Define(Napi::Env env) {
  return DefineClass(env, "NativeProcess",
                     {
                         InstanceMethod<&NativeProcess::Wait>("wait"),
                         InstanceMethod<&NativeProcess::Kill>("kill"),
                     });
}

NativeProcess::NativeProcess(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeProcess>(info) {
  pid_ = static_cast<pid_t>(IntegerArg(info, 0, "pid"));
  pidfd_ = static_cast<int>(IntegerArg(info, 1, "pidfd"));
  if (info[2].IsNumber()) statusFd_ = static_cast<int>(IntegerArg(info, 2, "statusFd"));
  GetAddonData(info.Env())->teardown->Claimed(pid_);  // ours to close and reap from now on
  context_ = std::make_unique<Napi::AsyncContext>(info.Env(), "lxcts-process");
  if (Watch(statusFd_ >= 0 ? statusFd_ : pidfd_)) {
    self_ = Napi::Persistent(Value());
    return;
  }
  if (statusFd_ < 0) {
    // Cannot watch: wait here rather than leave a zombie.
    int status = 0;
    pid_t r;
    do r = waitpid(pid_, &status, 0);
    while (r < 0 && errno == EINTR);
    if (r > 0) Record(status);
  } else {
    lost_ = true;
  }
  exited_ = true;
  StopWatching();
}

NativeProcess::~NativeProcess() {
  // Only reached once the process was reaped (self_ holds us until then), or at
  // environment teardown, when stopping the watch is all that is left to do.
  StopWatching();
}

// Watches `fd` for readability; false when libuv cannot.
bool NativeProcess::Watch(int fd) {
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(Env(), &loop) != napi_ok || loop == nullptr) return false;
  auto* closing = new Closing{};
  if (uv_poll_init(loop, &closing->poll, fd) != 0) {
    delete closing;  // never linked into the loop
    return false;
  }
  poll_ = &closing->poll;
  poll_->data = this;
  // If the environment ends while the command runs (a worker terminated), the watch is
  // closed then; the command itself keeps running, like any process this one started.
  closing->teardown = GetAddonData(Env())->teardown;
  token_ = closing->teardown->Opened([this]() {
    // Our own child (attached in-process) would stay a zombie with nobody to reap it:
    // a thread waits for it instead, however long the command runs.
    if (!exited_ && statusFd_ < 0 && !lost_ && pid_ > 0) ReapInBackground(pid_);
    StopWatching();
  });
  if (uv_poll_start(poll_, UV_READABLE, OnReadable) != 0) {
    StopWatching();
    return false;
  }
  return true;
}

void NativeProcess::StopWatching() {
  if (poll_ != nullptr) {
    uv_poll_stop(poll_);
    // libuv requires the handle to stay valid until its close callback. The descriptors
    // need not: uv_close() takes a poll handle's descriptor out of epoll (and out of the
    // events of this turn) before it returns, and touches it no more. Closing them here,
    // before exec's promise settles, means that once `await exec()` returns its pidfd
    // and status socket are gone: an fd count taken then does not see the last command's
    // (what moved the bench's fd count by 2 in some runs).
    auto* closing = reinterpret_cast<Closing*>(poll_);
    closing->teardown->Closing(token_);
    uv_close(reinterpret_cast<uv_handle_t*>(poll_), [](uv_handle_t* handle) {
      auto* closing = reinterpret_cast<Closing*>(handle);
      std::shared_ptr<EnvTeardown> teardown = std::move(closing->teardown);
      delete closing;
      teardown->CloseDone();
    });
    poll_ = nullptr;
  }
  if (pidfd_ >= 0) close(pidfd_);
  if (statusFd_ >= 0) close(statusFd_);
  pidfd_ = -1;
  statusFd_ = -1;
}

void NativeProcess::OnReadable(uv_poll_t* poll, int status, int events) {
  auto* self = static_cast<NativeProcess*>(poll->data);
  Napi::Env env = self->Env();
  // The environment may be ending (a worker terminated): Node still turns the loop while it
  // closes its own handles, before the cleanup hook closes this one, and every Napi call
  // then fails with an exception that must not escape a libuv callback.
  try {
    Napi::HandleScope scope(env);
    Napi::CallbackScope callbackScope(env, *self->context_);
    if (self->statusFd_ >= 0) {
      self->ReadStatus();
    } else if (self->lost_) {
      self->Exited();  // the pidfd of a command the dead helper started: it has ended
    } else {
      self->Reap();
    }
  } catch (const Napi::Error&) {
    // Nobody is left to tell; the process was reaped (or is the helper's to reap).
    if (!self->exited_ && self->statusFd_ < 0 && !self->lost_ && self->pid_ > 0) ReapInBackground(self->pid_);
    self->exited_ = true;
    self->StopWatching();
  }
}

void NativeProcess::Reap() {
  int status = 0;
  pid_t r;
  do r = waitpid(pid_, &status, WNOHANG);
  while (r < 0 && errno == EINTR);
  if (r == 0) return;         // spurious wake-up
  if (r > 0) Record(status);  // r < 0 (someone else reaped it): report neither code nor signal
  Exited();
}

void NativeProcess::Record(int status) {
  if (WIFEXITED(status)) {
    exitCode_ = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    signal_ = WTERMSIG(status);
  }
}

void NativeProcess::ReadStatus() {
  ExitReport report;
  ssize_t n;
  do n = recv(statusFd_, &report, sizeof report, MSG_DONTWAIT);
  while (n < 0 && errno == EINTR);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;  // spurious wake-up
  if (n == static_cast<ssize_t>(sizeof report)) {
    exitCode_ = report.exitCode;
    signal_ = report.signal;
    return Exited();
  }
  // The helper died before the command ended (or before it could say how): stop watching
  // (which closes the status socket) but keep the pidfd, which tells when the command ends.
  lost_ = true;
  int pidfd = pidfd_;
  pidfd_ = -1;
  StopWatching();
  pidfd_ = pidfd;
  if (!Watch(pidfd_)) Exited();
}

void NativeProcess::Exited() {
  exited_ = true;
  StopWatching();
  std::vector<Napi::Promise::Deferred> waiters = std::move(waiters_);
  for (auto& deferred : waiters) Settle(deferred);
  if (!self_.IsEmpty()) self_.Reset();
}

void NativeProcess::Settle(Napi::Promise::Deferred& deferred) {
  Napi::Env env = Env();
  if (lost_) {
    Failure failure{
        "LXC_EXEC_FAILED", "the lxcts-attach helper ended before it reported how command " + std::to_string(pid_) + " exited", {}, false};
    deferred.Reject(MakeLxcError(env, "exec", "", failure));
    return;
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("exitCode", exitCode_ >= 0 ? Napi::Number::New(env, exitCode_) : env.Null());
  result.Set("signal", signal_ > 0 ? Napi::Number::New(env, signal_) : env.Null());
  deferred.Resolve(result);
}

Napi::Value NativeProcess::Wait(const Napi::CallbackInfo& info) {
  Napi::Promise::Deferred deferred = Napi::Promise::Deferred::New(info.Env());
  if (exited_) {
    Settle(deferred);
  } else {
    waiters_.push_back(deferred);
  }
  return deferred.Promise();
}

Napi::Value NativeProcess::Kill(const Napi::CallbackInfo& info) {
  int sig = static_cast<int>(IntegerArg(info, 0, "signal"));
  if (exited_ || pidfd_ < 0) return Napi::Boolean::New(info.Env(), false);
  bool sent = syscall(SYS_pidfd_send_signal, pidfd_, sig, nullptr, 0) == 0;
  return Napi::Boolean::New(info.Env(), sent);
}

}  // namespace lxcts
