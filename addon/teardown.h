// What happens to the addon's native work when an environment (the main thread at exit, or
// a worker_thread that ends or is terminated) goes away while calls are in flight.
//
// - Threads of our own (long tasks, task.cc) are detached, never waited for: a create()
//   or wait() must not hold up worker.terminate(). They may outlive the environment, so
//   the shared object stays mapped (PinAddon) and a finishing thread checks, under a lock,
//   that the environment can still hear it (task.cc) before it calls in.
// - Handles of ours on the environment's event loop (the watch on a command's exit, the
//   wait for the attach helper's answer) are closed by an async cleanup hook, which Node
//   waits for, so the loop closes with none left open and no close callback runs late.
//   Node turns the loop once more before the hook runs (to close its own handles), so
//   their callbacks may fire with JavaScript already stopped: they catch the Napi errors.
// - Calls on libuv's pool are waited for by Node itself, so each must end in bounded time
//   (freeze/unfreeze wait no longer than their timeout: freezer.h).
// - A command's descriptors handed to JavaScript before a NativeProcess took them over are
//   closed, and a child of ours among them is reaped in the background.
#pragma once

#include <napi.h>
#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

namespace lxcts {

// Keeps this shared object loaded until the process exits. Node unloads an addon when the
// last environment that loaded it ends; a detached thread still running our code (or a
// libuv close callback still pointing into it) would then jump into unmapped memory.
void PinAddon();

class EnvTeardown {
 public:
  using Token = uint64_t;

  // Registers the environment's cleanup hook; call once from the module's Init.
  static std::shared_ptr<EnvTeardown> Install(napi_env env);

  // Set once the environment is going away: read by threads (a wait stops polling).
  std::shared_ptr<const std::atomic<bool>> Ending() const { return ending_; }

  // A uv handle was opened on this environment's loop; `closeNow` must uv_close it (and
  // call Closing, then CloseDone from the close callback) without touching JavaScript.
  Token Opened(std::function<void()> closeNow);
  // The owner is calling uv_close on the handle of `token` now.
  void Closing(Token token);
  // From the handle's close callback.
  void CloseDone();

  // A command's descriptors handed to JavaScript (as numbers) until a NativeProcess takes
  // them over: JavaScript may end in between. At teardown, those never taken are closed,
  // and a child of ours among them (`ownChild`: attached in-process) is reaped on a thread
  // of its own when it exits. Any thread.
  void Unclaimed(pid_t pid, std::vector<int> fds, bool ownChild);
  // The NativeProcess took them over.
  void Claimed(pid_t pid);
  // Frees them now if nobody has (the answer carrying them was never delivered).
  void FreeUnclaimed(pid_t pid);

 private:
  static void OnTeardown(napi_async_cleanup_hook_handle handle, void* arg);
  void MaybeFinish();

  std::shared_ptr<std::atomic<bool>> ending_ = std::make_shared<std::atomic<bool>>(false);
  // Main (environment) thread only, from here down.
  std::map<Token, std::function<void()>> open_;
  Token next_ = 1;
  int closing_ = 0;                                  // uv_close called, close callback not yet run
  napi_async_cleanup_hook_handle hook_ = nullptr;    // set while tearing down
  std::shared_ptr<EnvTeardown>* hookRef_ = nullptr;  // what the hook holds us by

  struct Handed {
    std::vector<int> fds;
    bool ownChild = false;
    void Free(pid_t pid) const;
  };
  std::mutex handedMutex_;
  std::map<pid_t, Handed> handed_;  // guarded by handedMutex_
};

// Reaps `pid`, a child of this process, on a detached thread whenever it exits.
void ReapInBackground(pid_t pid);

}  // namespace lxcts
