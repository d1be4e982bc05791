#include "module_functions.h"

#include <lxc/lxccontainer.h>

#include <sys/ioctl.h>
#include <unistd.h>

#include <cstdlib>

#include "args.h"
#include "config_item.h"
#include "task.h"

namespace lxcts {
namespace {

using ListFunction = int (*)(const char*, char***, struct lxc_container***);

ListFunction ListFunctionFor(const std::string& which) {
  if (which == "active") return list_active_containers;
  if (which == "defined") return list_defined_containers;
  return list_all_containers;
}

}  // namespace

Napi::Value ListContainers(const Napi::CallbackInfo& info) {
  std::string lxcpath = OptionalStringArg(info, 0, "lxcpath");
  std::string which = StringArg(info, 1, "which");
  if (which != "all" && which != "active" && which != "defined") {
    throw Napi::TypeError::New(info.Env(), "which must be one of all, active, defined");
  }
  TaskSpec spec;
  spec.op = "listContainers";
  spec.work = [lxcpath, list = ListFunctionFor(which)](Outcome& out) {
    char** names = nullptr;
    // Names only: passing NULL for the container array keeps liblxc from opening each one.
    int n = list(lxcpath.empty() ? nullptr : lxcpath.c_str(), &names, nullptr);
    if (n < 0) return out.Fail("LXC_LIST_FAILED", "cannot list containers in \"" + lxcpath + "\"");
    std::vector<std::string> result;
    for (int i = 0; i < n; i++) {
      result.emplace_back(names[i]);
      free(names[i]);
    }
    free(names);
    out.value = std::move(result);
  };
  return RunTask(info.Env(), Napi::Object::New(info.Env()), std::move(spec), Runner::kPool);
}

Napi::Value DefaultLxcpath(const Napi::CallbackInfo& info) {
  TaskSpec spec;
  spec.op = "defaultLxcpath";
  spec.work = [](Outcome& out) {
    // Thread-local storage inside liblxc: copy it on this thread.
    const char* path = lxc_get_global_config_item("lxc.lxcpath");
    if (path == nullptr) return out.Fail("LXC_CONFIG_FAILED", "liblxc has no default lxcpath");
    out.value = std::string(path);
  };
  return RunTask(info.Env(), Napi::Object::New(info.Env()), std::move(spec), Runner::kPool);
}

Napi::Value ClockTicks(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), static_cast<double>(sysconf(_SC_CLK_TCK))); }

Napi::Value ResizeTerminal(const Napi::CallbackInfo& info) {
  int fd = static_cast<int>(IntegerArg(info, 0, "fd"));
  struct winsize size = {};
  size.ws_col = static_cast<unsigned short>(IntegerArg(info, 1, "cols"));
  size.ws_row = static_cast<unsigned short>(IntegerArg(info, 2, "rows"));
  return Napi::Boolean::New(info.Env(), ioctl(fd, TIOCSWINSZ, &size) == 0);
}

Napi::Value Version(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), lxc_get_version()); }

Napi::Value ConfigItemSupported(const Napi::CallbackInfo& info) {
  std::string key = StringArg(info, 0, "key");
  return Napi::Boolean::New(info.Env(), IsKnownConfigKey(key));
}

}  // namespace lxcts
