// Notices on the event loop when a helper program of ours exits, so that it is reaped then
// and not only when it is next needed (a dead helper would otherwise stay a zombie, and
// attachHelperPid() would name it). It watches the helper's pidfd: a SIGCHLD handler would
// take the exit of Node's own children too.
#pragma once

#include <napi.h>
#include <sys/types.h>
#include <uv.h>

#include <functional>
#include <memory>

#include "fds.h"
#include "teardown.h"

namespace lxcts {

class HelperWatch {
 public:
  // Watches `pid` (our child) and calls `exited` once, on the main thread, when it has
  // exited; the callee reaps it. The owner keeps the watch in `*slot`, which is set to
  // null whenever the watch closes (it has fired, the owner closed it, or the environment
  // ended). Sets nothing when the watch cannot be set up: the helper is then reaped when
  // it is found dead. The watch never keeps Node's event loop alive.
  static void Start(napi_env env, pid_t pid, HelperWatch** slot, std::function<void()> exited);

  // Stops watching; the handle is freed by its close callback.
  void Close();

  HelperWatch(const HelperWatch&) = delete;
  HelperWatch& operator=(const HelperWatch&) = delete;

 private:
  HelperWatch() = default;
  static void OnReadable(uv_poll_t* poll, int status, int events);

  uv_poll_t poll_;
  UniqueFd pidfd_;
  HelperWatch** slot_ = nullptr;
  std::function<void()> exited_;
  std::shared_ptr<EnvTeardown> teardown_;
  EnvTeardown::Token token_ = 0;
};

}  // namespace lxcts
