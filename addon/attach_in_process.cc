// NativeContainer::Attach: start a command inside a running container, wired to pipes,
// from this process: the fallback for when the lxcts-attach helper cannot take the request
// (see attach_client.cc).
//
// Unlike attach_run_wait (what go-lxc and python3-lxc use), nothing here waits: attach()
// forks and returns the command's pid, the parent's pipe ends go back to JavaScript where
// libuv reads them as they fill, and a NativeProcess (process.cc) reaps the pid through a
// pidfd. No thread is ever blocked on the command's output or exit.
#include "attach_js.h"

#include <variant>

#include "addon_data.h"
#include "args.h"
#include "child_pidfd.h"
#include "container.h"
#include "preconditions.h"

namespace lxcts {

Napi::Value NativeContainer::Attach(const Napi::CallbackInfo& info) {
  AttachRequest request = ReadAttachRequest(info, 0);
  std::shared_ptr<EnvTeardown> teardown = GetAddonData(info.Env())->teardown;
  return Run(
      info, "exec", Runner::kPool,
      [request, teardown](lxc_container* c, HandleState& s, Outcome& out) mutable {
        AttachStdio stdio;
        std::string error;
        if (!OpenAttachStdio(c, request, stdio, error)) return out.Fail("LXC_EXEC_FAILED", error);
        // Not checked first: asking the monitor whether the container runs costs a round
        // trip on every exec; attach() finds out anyway, and a failure is explained below.
        pid_t pid = AttachCommand(c, request, stdio.childIn.Get(), stdio.ChildOut(), stdio.ChildErr());
        stdio.CloseChildEnds();
        if (pid < 0) {
          if (!RequireRunning(c, s.Subject(), out)) return;
          return out.Fail("LXC_EXEC_FAILED", "cannot attach to " + s.Subject());
        }

        // The pid stays our unreaped child until NativeProcess waits for it.
        UniqueFd pidfd = ChildPidfdOrKill(pid, error);
        if (!pidfd.Valid()) return out.Fail("LXC_EXEC_FAILED", error);
        out.value = AttachedRecord(pid, pidfd.Release(), -1, stdio, *teardown);
      },
      true,
      [teardown](Outcome& out) {
        // The environment ended before the answer was given (a worker terminated mid-exec).
        // If the command was attached after the teardown hook ran, free it here.
        auto* record = std::get_if<FlatRecord>(&out.value);
        if (record == nullptr) return;
        for (const auto& [key, field] : *record) {
          if (key == "pid") teardown->FreeUnclaimed(static_cast<pid_t>(std::get<int64_t>(field)));
        }
      });
}

}  // namespace lxcts
