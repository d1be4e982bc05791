// A command started by attach(), watched through its pidfd on the event loop.
//
// The constructor starts watching at once, so the process is reaped when it exits even if
// JavaScript never asks (no zombies). Signals go through the pidfd, which cannot hit a
// recycled pid the way kill(pid) could after the process was reaped.
#pragma once

#include <napi.h>
#include <uv.h>

#include <sys/types.h>

#include <memory>
#include <vector>

namespace lxcts {

class ProcessHandle : public Napi::ObjectWrap<ProcessHandle> {
 public:
  static Napi::Function Define(Napi::Env env);

  explicit ProcessHandle(const Napi::CallbackInfo& info);  // (pid, pidfd)
  ~ProcessHandle() override;

 private:
  static void OnReadable(uv_poll_t* poll, int status, int events);
  void Reap();
  void Settle(Napi::Promise::Deferred& deferred);
  void StopWatching();

  Napi::Value Wait(const Napi::CallbackInfo& info);  // () → Promise<{ exitCode, signal }>
  Napi::Value Kill(const Napi::CallbackInfo& info);  // (signal number) → boolean

  pid_t pid_ = -1;
  int pidfd_ = -1;
  uv_poll_t* poll_ = nullptr;
  bool exited_ = false;
  int exitCode_ = -1;  // -1 when killed by a signal
  int signal_ = 0;
  std::vector<Napi::Promise::Deferred> waiters_;
  Napi::ObjectReference self_;  // keeps this object alive while the process runs
  // Promises settled from a libuv callback need a callback scope, or their continuations
  // wait for some unrelated JS callback to drain the microtask queue.
  std::unique_ptr<Napi::AsyncContext> context_;
};

}  // namespace lxcts
