#include "global_config.h"

#include <lxc/lxccontainer.h>

#include "args.h"
#include "task.h"

namespace lxcts {

Napi::Value GlobalConfigItem(const Napi::CallbackInfo& info) {
  std::string key = StringArg(info, 0, "key");
  TaskSpec spec;
  spec.op = "globalConfigItem";
  // Off the main thread: the first call reads lxc.conf from disk.
  spec.work = [key](Outcome& out) {
    // A thread-local string inside liblxc: copied on this thread. NULL for an unknown key
    // and for a known one with no value (lxc.cgroup.use when lxc.conf does not set it).
    const char* value = lxc_get_global_config_item(key.c_str());
    if (value == nullptr) {
      out.value = Null{};
    } else {
      out.value = std::string(value);
    }
  };
  return RunTask(info.Env(), Napi::Object::New(info.Env()), std::move(spec), Runner::kPool);
}

// A lookup in a list compiled into liblxc: no I/O, so it answers at once.
Napi::Value HasApiExtension(const Napi::CallbackInfo& info) {
  std::string name = StringArg(info, 0, "name");
  return Napi::Boolean::New(info.Env(), lxc_has_api_extension(name.c_str()));
}

}  // namespace lxcts
