#include "container.h"

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <thread>

#include "addon_data.h"
#include "args.h"
#include "config_item.h"
#include "container_lock.h"
#include "freezer.h"
#include "lifecycle_client.h"
#include "preconditions.h"

namespace lxcts {
namespace {

std::string TrimTrailingNewlines(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

bool RequireKnownKey(const std::string& key, Outcome& out) {
  if (IsKnownConfigKey(key)) return true;
  out.Refuse("LXC_INVALID_CONFIG_KEY", "unknown config key \"" + key + "\"");
  return false;
}

// liblxc's wait() alone is not enough: for a container that is not running it never
// reports STOPPED, and it gives up one second early (lxc_wait counts down before it
// sleeps). So check the state first, then let wait() block for up to a second at a time.
bool WaitForState(lxc_container* c, const std::string& state, int timeoutSeconds) {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + std::chrono::seconds(timeoutSeconds);
  for (;;) {
    if (TaskAbandoned()) return false;  // the environment that asked is gone
    const char* now = c->state(c);
    if (now != nullptr && state == now) return true;
    if (timeoutSeconds >= 0 && Clock::now() >= deadline) return false;
    const auto before = Clock::now();
    if (c->wait(c, state.c_str(), 1)) return true;
    // Not running: liblxc returned at once instead of blocking; poll gently.
    if (Clock::now() - before < std::chrono::milliseconds(100)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
}

// liblxc sends the halt signal once. An init that has not yet installed its signal
// handlers (a container started or rebooted a moment ago) ignores it, as PID 1 ignores
// unhandled signals, and the shutdown would wait in vain. Halting is idempotent, so send
// the signal again every second until the container stops or the time is up.
bool ShutdownResending(lxc_container* c, int timeoutSeconds) {
  if (timeoutSeconds == 0) return c->shutdown(c, 0);
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + std::chrono::seconds(timeoutSeconds);
  for (;;) {
    if (c->shutdown(c, 1) || !c->is_running(c)) return true;
    if (timeoutSeconds > 0 && Clock::now() >= deadline) return false;
  }
}

}  // namespace

Napi::Function NativeContainer::Define(Napi::Env env) {
  return DefineClass(env, "NativeContainer",
                     {
                         InstanceMethod<&NativeContainer::Create>("create"),
                         InstanceMethod<&NativeContainer::Start>("start"),
                         InstanceMethod<&NativeContainer::Stop>("stop"),
                         InstanceMethod<&NativeContainer::Shutdown>("shutdown"),
                         InstanceMethod<&NativeContainer::Reboot>("reboot"),
                         InstanceMethod<&NativeContainer::Destroy>("destroy"),
                         InstanceMethod<&NativeContainer::Freeze>("freeze"),
                         InstanceMethod<&NativeContainer::Unfreeze>("unfreeze"),
                         InstanceMethod<&NativeContainer::Wait>("wait"),
                         InstanceMethod<&NativeContainer::State>("state"),
                         InstanceMethod<&NativeContainer::Running>("running"),
                         InstanceMethod<&NativeContainer::Defined>("defined"),
                         InstanceMethod<&NativeContainer::InitPid>("initPid"),
                         InstanceMethod<&NativeContainer::GetConfigItem>("getConfigItem"),
                         InstanceMethod<&NativeContainer::SetConfigItem>("setConfigItem"),
                         InstanceMethod<&NativeContainer::ClearConfigItem>("clearConfigItem"),
                         InstanceMethod<&NativeContainer::GetRunningConfigItem>("getRunningConfigItem"),
                         InstanceMethod<&NativeContainer::ConfigKeys>("configKeys"),
                         InstanceMethod<&NativeContainer::SaveConfig>("saveConfig"),
                         InstanceMethod<&NativeContainer::GetCgroupItem>("getCgroupItem"),
                         InstanceMethod<&NativeContainer::SetCgroupItem>("setCgroupItem"),
                         InstanceMethod<&NativeContainer::Release>("release"),
                         InstanceMethod<&NativeContainer::Attach>("attach"),
                         InstanceMethod<&NativeContainer::Interfaces>("interfaces"),
                         InstanceMethod<&NativeContainer::IpAddresses>("ipAddresses"),
                         InstanceMethod<&NativeContainer::Clone>("clone"),
                         InstanceMethod<&NativeContainer::Snapshot>("snapshot"),
                         InstanceMethod<&NativeContainer::Snapshots>("snapshots"),
                         InstanceMethod<&NativeContainer::RestoreSnapshot>("restoreSnapshot"),
                         InstanceMethod<&NativeContainer::DestroySnapshot>("destroySnapshot"),
                         InstanceMethod<&NativeContainer::ConfigFileName>("configFileName"),  // handles.cc
                         InstanceMethod<&NativeContainer::ConfigPath>("configPath"),
                         InstanceMethod<&NativeContainer::LoadConfig>("loadConfig"),
                         InstanceMethod<&NativeContainer::ClearConfig>("clearConfig"),
                         InstanceMethod<&NativeContainer::Controllable>("controllable"),
                         InstanceMethod<&NativeContainer::InitPidFd>("initPidFd"),
                         InstanceMethod<&NativeContainer::SetMonitorTimeout>("setMonitorTimeout"),
                         InstanceMethod<&NativeContainer::DestroyAllSnapshots>("destroyAllSnapshots"),
                         InstanceMethod<&NativeContainer::Rename>("rename"),
                         InstanceMethod<&NativeContainer::ConsoleOpen>("consoleOpen"),
                         InstanceMethod<&NativeContainer::ConsoleLog>("consoleLog"),
                     });
}

NativeContainer::NativeContainer(const Napi::CallbackInfo& info)
    : Napi::ObjectWrap<NativeContainer>(info), state_(std::make_shared<HandleState>()) {
  state_->name = StringArg(info, 0, "name");
  state_->lxcpath = OptionalStringArg(info, 1, "lxcpath");
  state_->lifecycle = LifecycleServerFor(info.Env());
}

void HandleState::Put() {
  if (container == nullptr) return;
  log.Close();
  lxc_container_put(container);
  container = nullptr;
}

bool HandleState::Open(Outcome& out) {
  if (container != nullptr) return true;
  // A create or clone killed midway left a half-made container: remove it (under the
  // container's lock, in lxcts-lifecycle) before reading its config, so that this handle
  // sees what a new container would.
  const char* defaultPath = lxcpath.empty() ? lxc_get_global_config_item("lxc.lxcpath") : nullptr;
  if (AbandonedPartial(defaultPath != nullptr ? std::string(defaultPath) : lxcpath, name)) {
    RunLifecycle({"clear", {name, lxcpath}, nullptr, false, "LXC_DESTROY_FAILED", Subject(), lifecycle}, out);
    if (out.failure && out.failure->code != "LXC_BUSY") return false;
    out.failure.reset();
  }
  container = lxc_container_new(name.c_str(), lxcpath.empty() ? nullptr : lxcpath.c_str());
  if (container == nullptr) {
    out.Fail("LXC_OPEN_FAILED", "cannot load container \"" + name + "\": its configuration could not be read");
    return false;
  }
  // create() starts from lxc.default_config only when no config is in memory yet, and
  // attaching the log puts one there: load the defaults first, as create() would, so a
  // container made here gets the same network and settings as one made by lxc-create.
  if (!container->is_defined(container)) LoadDefaultConfig(container);
  log.Attach(container);
  return true;
}

Napi::Value NativeContainer::Run(const Napi::CallbackInfo& info, const char* op, Runner runner, Op fn, bool open,
                                 std::function<void(Outcome&)> undelivered) {
  Napi::Env env = info.Env();
  if (released_) {
    Napi::Promise::Deferred deferred = Napi::Promise::Deferred::New(env);
    deferred.Reject(MakeLxcError(env, op, state_->name, Failure{"LXC_RELEASED", state_->Subject() + " was released", {}}));
    return deferred.Promise();
  }
  inflight_++;
  TaskSpec spec;
  spec.op = op;
  spec.container = state_->name;
  spec.work = [state = state_, fn = std::move(fn), open](Outcome& out) {
    // The facade already serialises calls; this lock keeps a misuse of the native class
    // from ever sharing the lxc_container between two threads.
    std::lock_guard<std::mutex> lock(state->busy);
    if (open && !state->Open(out)) return;
    off_t mark = state->log.Mark();
    fn(state->container, *state, out);
    if (out.failure && out.failure->wantsLog) out.failure->details = state->log.Since(mark);
    if (state->reopen) {
      state->reopen = false;
      state->Put();
    }
  };
  spec.undelivered = std::move(undelivered);
  spec.settled = [this]() {
    if (--inflight_ == 0 && released_) {
      std::lock_guard<std::mutex> lock(state_->busy);
      state_->Put();
    }
  };
  return RunTask(env, Value(), std::move(spec), runner);
}

// create, start, destroy and clone (clone.cc) run in the lxcts-lifecycle helper
// (lifecycle_helper.cc): liblxc forks the caller for them and, for start, moves it into
// the container's monitor cgroup; and there they hold the container's lock from check to
// act. Own threads: a call may wait for that lock behind a long create or clone.

Napi::Value NativeContainer::Create(const Napi::CallbackInfo& info) {
  std::string tmpl = StringArg(info, 0, "template");
  std::vector<std::string> args = StringArrayArg(info, 1, "args");
  std::string backend = OptionalStringArg(info, 2, "backend");
  bool quiet = BoolArg(info, 3);
  std::vector<std::string> storage = StringArrayArg(info, 4, "storage");  // KEY=VALUE, lifecycle_helper.cc reads them
  return Run(info, "create", Runner::kOwnThread, [tmpl, args, backend, quiet, storage](lxc_container* c, HandleState& s, Outcome& out) {
    LifecycleCall call{"create",   {s.name, s.lxcpath, tmpl, backend, quiet ? "1" : "0"}, c, !quiet, "LXC_CREATE_FAILED", s.Subject(),
                       s.lifecycle};
    call.args.insert(call.args.end(), storage.begin(), storage.end());
    call.args.push_back("--");
    call.args.insert(call.args.end(), args.begin(), args.end());
    RunLifecycle(call, out);
    // The container on disk is not the one in memory any more (or is gone): reload it.
    s.reopen = true;
  });
}

Napi::Value NativeContainer::Start(const Napi::CallbackInfo& info) {
  std::vector<std::string> args = StringArrayArg(info, 0, "args");
  return Run(info, "start", Runner::kOwnThread, [args](lxc_container* c, HandleState& s, Outcome& out) {
    // The helper starts with this handle's config, unsaved changes included.
    LifecycleCall call{"start", {s.name, s.lxcpath, "--"}, c, false, "LXC_START_FAILED", s.Subject(), s.lifecycle};
    call.args.insert(call.args.end(), args.begin(), args.end());
    RunLifecycle(call, out);
  });
}

Napi::Value NativeContainer::Stop(const Napi::CallbackInfo& info) {
  return Run(info, "stop", Runner::kPool, [](lxc_container* c, HandleState& s, Outcome& out) {
    if (!RequireRunning(c, s.Subject(), out)) return;
    if (!c->stop(c)) out.Fail("LXC_STOP_FAILED", "stopping " + s.Subject() + " failed");
  });
}

Napi::Value NativeContainer::Shutdown(const Napi::CallbackInfo& info) {
  int timeout = static_cast<int>(IntegerArg(info, 0, "timeout"));
  return Run(info, "shutdown", Runner::kOwnThread, [timeout](lxc_container* c, HandleState& s, Outcome& out) {
    if (!RequireRunning(c, s.Subject(), out)) return;
    if (ShutdownResending(c, timeout)) return;
    if (c->is_running(c)) {
      out.Fail("LXC_TIMEOUT", s.Subject() + " did not shut down within " + std::to_string(timeout) + " s");
    } else {
      out.Fail("LXC_SHUTDOWN_FAILED", "shutting down " + s.Subject() + " failed");
    }
  });
}

Napi::Value NativeContainer::Reboot(const Napi::CallbackInfo& info) {
  return Run(info, "reboot", Runner::kPool, [](lxc_container* c, HandleState& s, Outcome& out) {
    if (!RequireRunning(c, s.Subject(), out)) return;
    if (!c->reboot(c)) out.Fail("LXC_REBOOT_FAILED", "rebooting " + s.Subject() + " failed");
  });
}

Napi::Value NativeContainer::Destroy(const Napi::CallbackInfo& info) {
  bool withSnapshots = BoolArg(info, 0);
  return Run(
      info, "destroy", Runner::kOwnThread,
      [withSnapshots](lxc_container* c, HandleState& s, Outcome& out) {
        RunLifecycle(
            {"destroy", {s.name, s.lxcpath, withSnapshots ? "1" : "0"}, nullptr, false, "LXC_DESTROY_FAILED", s.Subject(), s.lifecycle},
            out);
        // Start afresh, so that a later create() on this object begins from the defaults like
        // any new container.
        s.reopen = true;
      },
      /*open=*/false);
}

Napi::Value NativeContainer::Freeze(const Napi::CallbackInfo& info) {
  int timeout = static_cast<int>(IntegerArg(info, 0, "timeout"));
  return Run(info, "freeze", Runner::kPool,
             [timeout](lxc_container* c, HandleState& s, Outcome& out) { FreezeOrThaw(c, s.Subject(), true, timeout, out); });
}

Napi::Value NativeContainer::Unfreeze(const Napi::CallbackInfo& info) {
  int timeout = static_cast<int>(IntegerArg(info, 0, "timeout"));
  return Run(info, "unfreeze", Runner::kPool,
             [timeout](lxc_container* c, HandleState& s, Outcome& out) { FreezeOrThaw(c, s.Subject(), false, timeout, out); });
}

Napi::Value NativeContainer::Wait(const Napi::CallbackInfo& info) {
  std::string state = StringArg(info, 0, "state");
  int timeout = static_cast<int>(IntegerArg(info, 1, "timeout"));
  // A wait can last as long as the caller likes, so it gets its own liblxc object and
  // thread instead of holding up this handle's other calls (stop() is what a wait for
  // STOPPED is usually waiting for).
  TaskSpec spec;
  spec.op = "wait";
  spec.container = state_->name;
  spec.work = [name = state_->name, lxcpath = state_->lxcpath, state, timeout](Outcome& out) {
    lxc_container* c = lxc_container_new(name.c_str(), lxcpath.empty() ? nullptr : lxcpath.c_str());
    if (c == nullptr) return out.Fail("LXC_OPEN_FAILED", "cannot load container \"" + name + "\"");
    bool reached = WaitForState(c, state, timeout);
    lxc_container_put(c);
    if (!reached) {
      out.Fail("LXC_TIMEOUT", "container \"" + name + "\" did not reach " + state + " within " + std::to_string(timeout) + " s");
    }
  };
  return RunTask(info.Env(), Value(), std::move(spec), Runner::kOwnThread);
}

Napi::Value NativeContainer::State(const Napi::CallbackInfo& info) {
  return Run(info, "state", Runner::kPool, [](lxc_container* c, HandleState& s, Outcome& out) {
    const char* state = c->state(c);  // static string: not ours to free
    out.value = std::string(state != nullptr ? state : "UNKNOWN");
  });
}

Napi::Value NativeContainer::Running(const Napi::CallbackInfo& info) {
  return Run(info, "running", Runner::kPool, [](lxc_container* c, HandleState& s, Outcome& out) { out.value = c->is_running(c); });
}

Napi::Value NativeContainer::Defined(const Napi::CallbackInfo& info) {
  return Run(info, "defined", Runner::kPool, [](lxc_container* c, HandleState& s, Outcome& out) { out.value = c->is_defined(c); });
}

Napi::Value NativeContainer::InitPid(const Napi::CallbackInfo& info) {
  return Run(info, "initPid", Runner::kPool, [](lxc_container* c, HandleState& s, Outcome& out) {
    pid_t pid = c->init_pid(c);
    if (pid > 0) {
      out.value = static_cast<int64_t>(pid);
    } else {
      out.value = Null{};
    }
  });
}

Napi::Value NativeContainer::GetConfigItem(const Napi::CallbackInfo& info) {
  std::string key = StringArg(info, 0, "key");
  return Run(info, "getConfigItem", Runner::kPool, [key](lxc_container* c, HandleState& s, Outcome& out) {
    if (!RequireKnownKey(key, out)) return;
    out.value = ReadConfigItem(c, key.c_str());
  });
}

Napi::Value NativeContainer::SetConfigItem(const Napi::CallbackInfo& info) {
  std::string key = StringArg(info, 0, "key");
  std::string value = StringArg(info, 1, "value");
  return Run(info, "setConfigItem", Runner::kPool, [key, value](lxc_container* c, HandleState& s, Outcome& out) {
    if (!RequireKnownKey(key, out)) return;
    if (!c->set_config_item(c, key.c_str(), value.c_str())) {
      out.Fail("LXC_INVALID_CONFIG_VALUE", "invalid value \"" + value + "\" for config key \"" + key + "\"");
    }
  });
}

Napi::Value NativeContainer::ClearConfigItem(const Napi::CallbackInfo& info) {
  std::string key = StringArg(info, 0, "key");
  return Run(info, "clearConfigItem", Runner::kPool, [key](lxc_container* c, HandleState& s, Outcome& out) {
    if (!RequireKnownKey(key, out)) return;
    if (!c->clear_config_item(c, key.c_str())) {
      out.Fail("LXC_CONFIG_FAILED", "config key \"" + key + "\" cannot be cleared");
    }
  });
}

Napi::Value NativeContainer::GetRunningConfigItem(const Napi::CallbackInfo& info) {
  std::string key = StringArg(info, 0, "key");
  return Run(info, "getRunningConfigItem", Runner::kPool, [key](lxc_container* c, HandleState& s, Outcome& out) {
    if (!RequireKnownKey(key, out) || !RequireRunning(c, s.Subject(), out)) return;
    char* value = c->get_running_config_item(c, key.c_str());  // malloc'd: ours to free
    if (value == nullptr) {
      out.value = Null{};
      return;
    }
    out.value = std::string(value);
    free(value);
  });
}

Napi::Value NativeContainer::ConfigKeys(const Napi::CallbackInfo& info) {
  std::string prefix = OptionalStringArg(info, 0, "prefix");
  return Run(info, "configKeys", Runner::kPool, [prefix](lxc_container* c, HandleState& s, Outcome& out) {
    const char* key = prefix.empty() ? nullptr : prefix.c_str();
    std::optional<std::string> text = ReadSized([&](char* buffer, int size) { return c->get_keys(c, key, buffer, size); });
    if (!text) return out.Fail("LXC_INVALID_CONFIG_KEY", "no config keys under \"" + prefix + "\"");
    out.value = SplitLines(*text);
  });
}

Napi::Value NativeContainer::SaveConfig(const Napi::CallbackInfo& info) {
  std::string path = OptionalStringArg(info, 0, "path");
  return Run(info, "saveConfig", Runner::kPool, [path](lxc_container* c, HandleState& s, Outcome& out) {
    if (!c->save_config(c, path.empty() ? nullptr : path.c_str())) {
      out.Fail("LXC_SAVE_FAILED", "saving the config of " + s.Subject() + " failed");
    }
  });
}

Napi::Value NativeContainer::GetCgroupItem(const Napi::CallbackInfo& info) {
  std::string key = StringArg(info, 0, "key");
  return Run(info, "getCgroupItem", Runner::kPool, [key](lxc_container* c, HandleState& s, Outcome& out) {
    if (!RequireRunning(c, s.Subject(), out)) return;
    std::optional<std::string> text = ReadSized([&](char* buffer, int size) { return c->get_cgroup_item(c, key.c_str(), buffer, size); });
    if (!text) return out.Fail("LXC_CGROUP_FAILED", "cannot read cgroup item \"" + key + "\" of " + s.Subject());
    out.value = TrimTrailingNewlines(std::move(*text));
  });
}

Napi::Value NativeContainer::SetCgroupItem(const Napi::CallbackInfo& info) {
  std::string key = StringArg(info, 0, "key");
  std::string value = StringArg(info, 1, "value");
  return Run(info, "setCgroupItem", Runner::kPool, [key, value](lxc_container* c, HandleState& s, Outcome& out) {
    if (!RequireRunning(c, s.Subject(), out)) return;
    if (!c->set_cgroup_item(c, key.c_str(), value.c_str())) {
      out.Fail("LXC_CGROUP_FAILED", "cannot set cgroup item \"" + key + "\" of " + s.Subject() + " to \"" + value + "\"");
    }
  });
}

Napi::Value NativeContainer::Release(const Napi::CallbackInfo& info) {
  released_ = true;
  // With calls in flight, the last one to settle drops the reference.
  if (inflight_ == 0) {
    std::lock_guard<std::mutex> lock(state_->busy);
    state_->Put();
  }
  return info.Env().Undefined();
}

}  // namespace lxcts
