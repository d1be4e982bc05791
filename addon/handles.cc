// The handle and its config: NativeContainer::ConfigFileName, ::ConfigPath, ::LoadConfig,
// ::ClearConfig, ::Controllable, ::InitPidFd, ::SetMonitorTimeout,
// ::DestroyAllSnapshots, ::Rename.
#include <fcntl.h>
#include <lxc/version.h>
#include <unistd.h>

#include <cstdlib>

#include "args.h"
#include "container.h"
#include "fds.h"
#include "lifecycle_client.h"
#include "preconditions.h"

namespace lxcts {

Napi::Value NativeContainer::ConfigFileName(const Napi::CallbackInfo& info) {
  return Run(info, "configFileName", Runner::kPool, [](lxc_container* c, HandleState& s, Outcome& out) {
    char* path = c->config_file_name(c);  // malloc'd: ours to free
    if (path == nullptr) return out.Fail("LXC_CONFIG_FAILED", "liblxc has no config file name for " + s.Subject());
    out.value = std::string(path);
    free(path);
  });
}

Napi::Value NativeContainer::ConfigPath(const Napi::CallbackInfo& info) {
  return Run(info, "configPath", Runner::kPool, [](lxc_container* c, HandleState& s, Outcome& out) {
    const char* path = c->get_config_path(c);  // the handle's own string: not ours to free
    if (path == nullptr) return out.Fail("LXC_CONFIG_FAILED", "liblxc has no lxcpath for " + s.Subject());
    out.value = std::string(path);
  });
}

Napi::Value NativeContainer::LoadConfig(const Napi::CallbackInfo& info) {
  std::string path = StringArg(info, 0, "path");
  return Run(info, "loadConfig", Runner::kPool, [path](lxc_container* c, HandleState& s, Outcome& out) {
    if (!c->load_config(c, path.c_str()))
      return out.Fail("LXC_CONFIG_FAILED", "cannot load config file \"" + path + "\" into " + s.Subject());
    // The file may name a log file of its own: read the call logs from there from now on.
    s.log.Attach(c);
  });
}

Napi::Value NativeContainer::ClearConfig(const Napi::CallbackInfo& info) {
  return Run(info, "clearConfig", Runner::kPool, [](lxc_container* c, HandleState& s, Outcome& out) {
    c->clear_config(c);
    // The config held this handle's log (lxc.log.file's descriptor): give it a new one.
    s.log.Attach(c);
  });
}

Napi::Value NativeContainer::Controllable(const Napi::CallbackInfo& info) {
  return Run(info, "controllable", Runner::kPool, [](lxc_container* c, HandleState& s, Outcome& out) { out.value = c->may_control(c); });
}

Napi::Value NativeContainer::InitPidFd(const Napi::CallbackInfo& info) {
  return Run(
      info, "initPidFd", Runner::kPool,
      [](lxc_container* c, HandleState& s, Outcome& out) {
        if (!RequireRunning(c, s.Subject(), out)) return;
        // Received from the monitor over its command socket: a descriptor this process owns.
        UniqueFd fd(c->init_pidfd(c));
        if (!fd.Valid()) return out.Fail("LXC_PIDFD_FAILED", "cannot get a pidfd for the init of " + s.Subject());
        fd = AboveStdio(std::move(fd));
        // Never inherited by what this process spawns: the caller decides who else gets it.
        if (!fd.Valid() || fcntl(fd.Get(), F_SETFD, FD_CLOEXEC) != 0) {
          return out.Fail("LXC_PIDFD_FAILED", "cannot keep the pidfd of " + s.Subject() + " from children");
        }
        out.value = static_cast<int64_t>(fd.Release());
      },
      /*open=*/true,
      // Nobody is left to close it: close it here.
      [](Outcome& out) {
        if (const auto* fd = std::get_if<int64_t>(&out.value)) close(static_cast<int>(*fd));
      });
}

Napi::Value NativeContainer::SetMonitorTimeout(const Napi::CallbackInfo& info) {
  int timeout = static_cast<int>(IntegerArg(info, 0, "timeout"));
  return Run(info, "setMonitorTimeout", Runner::kPool, [timeout](lxc_container* c, HandleState& s, Outcome& out) {
#if LXC_VERSION_MAJOR >= 6
    if (!c->set_timeout(c, timeout)) out.Fail("LXC_CONFIG_FAILED", "cannot set the monitor timeout of " + s.Subject());
#else
    (void)c;
    (void)timeout;
    out.Refuse("LXC_UNSUPPORTED", std::string("liblxc ") + LXC_VERSION +
                                      " has no timeout for calls to a container's monitor (lxc_container.set_timeout comes with LXC 6.0)");
#endif
  });
}

Napi::Value NativeContainer::DestroyAllSnapshots(const Napi::CallbackInfo& info) {
  return Run(info, "destroyAllSnapshots", Runner::kOwnThread, [](lxc_container* c, HandleState& s, Outcome& out) {
    if (!RequireDefined(c, s.Subject(), out)) return;
    struct lxc_snapshot* list = nullptr;
    int n = c->snapshot_list(c, &list);
    for (int i = 0; i < n; i++) list[i].free(&list[i]);
    free(list);
    // liblxc fails when the snaps directory was never made: nothing to destroy is success.
    if (n == 0) return;
    if (!c->snapshot_destroy_all(c)) out.Fail("LXC_SNAPSHOT_FAILED", "destroying the snapshots of " + s.Subject() + " failed");
  });
}

Napi::Value NativeContainer::Rename(const Napi::CallbackInfo& info) {
  std::string newName = StringArg(info, 0, "newName");
  return Run(
      info, "rename", Runner::kOwnThread,
      [newName](lxc_container* c, HandleState& s, Outcome& out) {
        // In lxcts-lifecycle, under both names' locks: liblxc renames by cloning (rsync) and
        // destroying the original.
        RunLifecycle({"rename", {s.name, s.lxcpath, newName}, nullptr, false, "LXC_RENAME_FAILED", s.Subject(), s.lifecycle}, out);
        // This handle's name is gone from disk (or should be read afresh): reload on next use.
        s.reopen = true;
      },
      /*open=*/false);
}

}  // namespace lxcts
