// A command started by attach(), watched on the event loop.
//
// A command attached from this process is our child: its pidfd becomes readable when it
// exits, and we reap it. One started by the lxcts-attach helper is the helper's child: the
// helper reaps it and writes its ExitReport to the command's status socket, which is what
// we watch then. If the helper dies first, we fall back to the pidfd, which tells when the
// command ends but not how (the wait then rejects).
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

class NativeProcess : public Napi::ObjectWrap<NativeProcess> {
 public:
  static Napi::Function Define(Napi::Env env);

  explicit NativeProcess(const Napi::CallbackInfo& info);  // (pid, pidfd, statusFd or -1)
  ~NativeProcess() override;

 private:
  static void OnReadable(uv_poll_t* poll, int status, int events);
  bool Watch(int fd);
  void Reap();
  void Record(int status);  // a waitpid() status
  void ReadStatus();
  void Exited();
  void Settle(Napi::Promise::Deferred& deferred);
  void StopWatching();

  Napi::Value Wait(const Napi::CallbackInfo& info);  // () → Promise<{ exitCode, signal }>
  Napi::Value Kill(const Napi::CallbackInfo& info);  // (signal number) → boolean

  pid_t pid_ = -1;
  int pidfd_ = -1;
  int statusFd_ = -1;  // the helper's status socket, or -1 for our own child
  uv_poll_t* poll_ = nullptr;
  uint64_t token_ = 0;  // poll_'s entry in the environment's EnvTeardown
  bool exited_ = false;
  int exitCode_ = -1;  // -1 when killed by a signal
  int signal_ = 0;
  bool lost_ = false;  // the helper died before reporting: how the command ended is unknown
  std::vector<Napi::Promise::Deferred> waiters_;
  Napi::ObjectReference self_;  // keeps this object alive while the process runs
  // Promises settled from a libuv callback need a callback scope, or their continuations
  // wait for some unrelated JS callback to drain the microtask queue.
  std::unique_ptr<Napi::AsyncContext> context_;
};

}  // namespace lxcts
