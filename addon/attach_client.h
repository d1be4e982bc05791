// The addon's side of the lxcts-attach helper (attach_server.cc, protocol in attach_wire.h).
//
// exec and spawn ask the helper to attach, so that liblxc forks a small process instead of
// Node (see attach_server.cc for why). The request goes out from the main thread without
// blocking (one sendmsg on a non-blocking socket) and the answer is read when libuv sees
// it arrive: no thread-pool trip either.
//
// The helper is spawned on first use and again if it dies. When it cannot take a request
// (it cannot be spawned, its socket is full, the request is too large), attachRemote()
// returns null and the caller attaches in-process as before.
#pragma once

#include <napi.h>
#include <sys/types.h>

#include <string>

#include "attach_command.h"
#include "fds.h"
#include "helper_watch.h"

namespace lxcts {

// One per environment, owned by AddonData.
class AttachClient {
 public:
  AttachClient(napi_env env, std::string helperPath) : env_(env), helperPath_(std::move(helperPath)) {}
  AttachClient(const AttachClient&) = delete;
  AttachClient& operator=(const AttachClient&) = delete;
  // Stops the helper (commands it started keep running) and reaps it.
  ~AttachClient();

  // Sends one request with the child's ends of `stdio`. Returns our end of the command's
  // reply socket, or an invalid fd when the helper cannot take the request.
  UniqueFd Send(const std::string& request, const AttachStdio& stdio);

  // The helper's pid; -1 when none runs (a helper that died is reaped as it dies).
  pid_t HelperPid() const { return pid_; }

 private:
  bool Spawn();
  void Stop();

  napi_env env_;
  std::string helperPath_;
  HelperWatch* watch_ = nullptr;  // on the helper's exit, while it runs
  pid_t pid_ = -1;
  UniqueFd control_;
  bool unavailable_ = false;  // spawning failed once: attach in-process from now on
};

// attachRemote(name, lxcpath | null, argv, options) → Promise<NativeAttached> | null
Napi::Value AttachRemote(const Napi::CallbackInfo& info);
// setAttachHelper(path | null): where lxcts-attach is; null stops using it.
Napi::Value SetAttachHelper(const Napi::CallbackInfo& info);
// attachHelperPid() → number | null: the running helper's pid, for tests.
Napi::Value AttachHelperPid(const Napi::CallbackInfo& info);

}  // namespace lxcts
