// The addon's side of lxcts-lifecycle (lifecycle_helper.cc): create, start, destroy, clone
// and rename run in that small helper, a process per call, instead of in Node. The process
// is forked by a resident lxcts-lifecycle server (lifecycle_server.cc), one per environment;
// when that server cannot be had, the helper is spawned for the call as before.
#pragma once

#include <lxc/lxccontainer.h>
#include <napi.h>
#include <sys/types.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "fds.h"
#include "task.h"

namespace lxcts {

// The resident server of one environment (AddonData), shared with the handles whose calls
// use it: started on first use, started again when it has died.
class LifecycleServer {
 public:
  explicit LifecycleServer(std::string path) : path_(std::move(path)) {}
  LifecycleServer(const LifecycleServer&) = delete;
  LifecycleServer& operator=(const LifecycleServer&) = delete;
  ~LifecycleServer();  // closes the control socket and reaps the server

  // Sends one request (lifecycle_wire.h) with `fds` after the reply socket's end, which it
  // makes. Returns our end of the reply socket, or an invalid fd when the server cannot take
  // the request (the caller then spawns the helper itself). Any thread.
  UniqueFd Send(const std::string& request, const int* fds, size_t count);

  pid_t Pid();  // for tests: -1 when none runs

 private:
  bool SpawnLocked();
  void StopLocked();

  std::mutex mutex_;
  std::string path_;
  pid_t pid_ = -1;
  UniqueFd control_;
  bool unavailable_ = false;  // it could not be spawned once: spawn per call from now on
};

// The environment's server, made on first use; null when the helper is not found.
std::shared_ptr<LifecycleServer> LifecycleServerFor(Napi::Env env);

struct LifecycleCall {
  std::string op;                 // start, create, destroy, clone, rename, clear, ips, interfaces
  std::vector<std::string> args;  // NAME LXCPATH and the op's own, as lifecycle_helper.cc lists them
  // Whose in-memory config the helper uses (saved into a memfd for it); null: none.
  lxc_container* config = nullptr;
  bool inheritOutput = false;  // the helper's stdout/stderr are Node's (a template's output)
  std::string failureCode;     // when the helper dies without answering
  std::string subject;         // for messages
  // The resident server to fork the helper (null: spawn it for this call).
  std::shared_ptr<LifecycleServer> server = nullptr;
  // A read (ips, interfaces): the lines after "ok" are the call's value, a list of short
  // strings, instead of nothing.
  bool answersLines = false;
};

// Spawns the helper, waits for it (blocking: call off the main thread) and turns its answer
// into `out`. The calling thread must outlive the helper, which it does by waiting:
// the helper's parent-death signal follows the thread that spawned it.
void RunLifecycle(const LifecycleCall& call, Outcome& out);

}  // namespace lxcts
