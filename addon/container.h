// The native side of one Container: owns one lxc_container reference.
//
// Concurrency contract: the TypeScript facade (src/lxc/container.ts) never has two calls
// that use the lxc_container in flight at once, because liblxc objects are not safe to
// share between threads that fork. `wait` uses a handle of its own, and exec/spawn attach
// through a pool of further handles (src/lxc/handle-pool.ts), each used by one call at once.
#pragma once

#include <lxc/lxccontainer.h>
#include <napi.h>

#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "lifecycle_client.h"
#include "log_capture.h"
#include "task.h"

namespace lxcts {

// Everything a task may touch off the main thread. Tasks hold it by shared_ptr, so it
// outlives the JS object when an environment is torn down (a worker thread terminated)
// while a task still runs; the last owner puts the liblxc reference.
struct HandleState {
  std::string name;
  std::string lxcpath;  // empty: liblxc's default lxcpath
  lxc_container* container = nullptr;
  LogCapture log;
  std::mutex busy;                             // calls never share the lxc_container between threads
  bool reopen = false;                         // set by an op whose outcome makes the in-memory config stale
  std::shared_ptr<LifecycleServer> lifecycle;  // forks the lifecycle helper (null: spawn it)

  ~HandleState() { Put(); }
  std::string Subject() const { return "container \"" + name + "\""; }  // for messages
  bool Open(Outcome& out);
  void Put();
};

class NativeContainer : public Napi::ObjectWrap<NativeContainer> {
 public:
  static Napi::Function Define(Napi::Env env);

  explicit NativeContainer(const Napi::CallbackInfo& info);
  ~NativeContainer() override = default;

 private:
  using Op = std::function<void(lxc_container* c, HandleState& s, Outcome& out)>;

  // Queues `op` on a worker; opens the liblxc container on first use (off the main
  // thread, since lxc_container_new reads the config from disk) and attaches the liblxc
  // log lines of the call to a failure. With `open` false, `fn` gets the container only if
  // it is already open (else null): for calls that do not need it (destroy runs in the
  // lifecycle helper, and must not fail because another caller is deleting the config).
  // `undelivered`: see TaskSpec.
  Napi::Value Run(const Napi::CallbackInfo& info, const char* op, Runner runner, Op fn, bool open = true,
                  std::function<void(Outcome&)> undelivered = nullptr);

  Napi::Value Create(const Napi::CallbackInfo& info);
  Napi::Value Start(const Napi::CallbackInfo& info);
  Napi::Value Stop(const Napi::CallbackInfo& info);
  Napi::Value Shutdown(const Napi::CallbackInfo& info);
  Napi::Value Reboot(const Napi::CallbackInfo& info);
  Napi::Value Destroy(const Napi::CallbackInfo& info);
  Napi::Value Freeze(const Napi::CallbackInfo& info);
  Napi::Value Unfreeze(const Napi::CallbackInfo& info);
  Napi::Value Wait(const Napi::CallbackInfo& info);
  Napi::Value State(const Napi::CallbackInfo& info);
  Napi::Value Running(const Napi::CallbackInfo& info);
  Napi::Value Defined(const Napi::CallbackInfo& info);
  Napi::Value InitPid(const Napi::CallbackInfo& info);
  Napi::Value GetConfigItem(const Napi::CallbackInfo& info);
  Napi::Value SetConfigItem(const Napi::CallbackInfo& info);
  Napi::Value ClearConfigItem(const Napi::CallbackInfo& info);
  Napi::Value GetRunningConfigItem(const Napi::CallbackInfo& info);
  Napi::Value ConfigKeys(const Napi::CallbackInfo& info);
  Napi::Value SaveConfig(const Napi::CallbackInfo& info);
  Napi::Value GetCgroupItem(const Napi::CallbackInfo& info);
  Napi::Value SetCgroupItem(const Napi::CallbackInfo& info);
  Napi::Value Release(const Napi::CallbackInfo& info);
  Napi::Value Attach(const Napi::CallbackInfo& info);      // attach_in_process.cc
  Napi::Value Interfaces(const Napi::CallbackInfo& info);  // network.cc
  Napi::Value IpAddresses(const Napi::CallbackInfo& info);
  Napi::Value Clone(const Napi::CallbackInfo& info);  // clone.cc
  Napi::Value Snapshot(const Napi::CallbackInfo& info);
  Napi::Value Snapshots(const Napi::CallbackInfo& info);
  Napi::Value RestoreSnapshot(const Napi::CallbackInfo& info);
  Napi::Value DestroySnapshot(const Napi::CallbackInfo& info);
  Napi::Value ConfigFileName(const Napi::CallbackInfo& info);  // handles.cc
  Napi::Value ConfigPath(const Napi::CallbackInfo& info);
  Napi::Value LoadConfig(const Napi::CallbackInfo& info);
  Napi::Value ClearConfig(const Napi::CallbackInfo& info);
  Napi::Value Controllable(const Napi::CallbackInfo& info);
  Napi::Value InitPidFd(const Napi::CallbackInfo& info);
  Napi::Value SetMonitorTimeout(const Napi::CallbackInfo& info);
  Napi::Value DestroyAllSnapshots(const Napi::CallbackInfo& info);
  Napi::Value Rename(const Napi::CallbackInfo& info);
  Napi::Value ConsoleOpen(const Napi::CallbackInfo& info);  // console.cc
  Napi::Value ConsoleLog(const Napi::CallbackInfo& info);

  std::shared_ptr<HandleState> state_;
  int inflight_ = 0;  // main thread only
  bool released_ = false;
};

}  // namespace lxcts
