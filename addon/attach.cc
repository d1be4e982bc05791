// ContainerHandle::Attach: start a command inside a running container, wired to pipes,
// from this process. Used when the lxcts-attach helper cannot be (see attach_client.cc).
//
// Unlike attach_run_wait (what go-lxc and python3-lxc use), nothing here waits: attach()
// forks and returns the command's pid, the parent's pipe ends go back to JavaScript where
// libuv reads them as they fill, and a ProcessHandle (process.cc) reaps the pid through a
// pidfd. No thread is ever blocked on the command's output or exit.
#include "attach.h"

#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>
#include <thread>
#include <variant>

#include "addon_data.h"
#include "args.h"
#include "container.h"
#include "preconditions.h"

namespace lxcts {

AttachRequest ReadAttachRequest(const Napi::CallbackInfo& info, size_t first) {
  AttachRequest request;
  request.argv = StringArrayArg(info, first, "argv");
  if (request.argv.empty()) throw Napi::TypeError::New(info.Env(), "argv must not be empty");
  if (!info[first + 1].IsObject()) throw Napi::TypeError::New(info.Env(), "attach options must be an object");
  Napi::Object o = info[first + 1].As<Napi::Object>();
  Napi::Value env = o.Get("env");
  if (env.IsArray()) {
    Napi::Array list = env.As<Napi::Array>();
    for (uint32_t i = 0; i < list.Length(); i++) request.env.push_back(list.Get(i).ToString().Utf8Value());
  }
  request.clearEnv = o.Get("clearEnv").ToBoolean().Value();
  request.pipeStdin = o.Get("pipeStdin").ToBoolean().Value();
  if (o.Get("cwd").IsString()) request.cwd = o.Get("cwd").As<Napi::String>().Utf8Value();
  if (o.Get("uid").IsNumber()) request.uid = o.Get("uid").As<Napi::Number>().Int64Value();
  if (o.Get("gid").IsNumber()) request.gid = o.Get("gid").As<Napi::Number>().Int64Value();
  request.tty = o.Get("tty").ToBoolean().Value();
  if (o.Get("cols").IsNumber()) request.cols = o.Get("cols").As<Napi::Number>().Int32Value();
  if (o.Get("rows").IsNumber()) request.rows = o.Get("rows").As<Napi::Number>().Int32Value();
  return request;
}

NumberRecord AttachedRecord(pid_t pid, int pidfd, int statusFd, AttachStdio& stdio, EnvTeardown& teardown) {
  teardown.Unclaimed(pid, {pidfd, statusFd, stdio.parentIn.Get(), stdio.parentOut.Get(), stdio.parentErr.Get()}, statusFd < 0);
  return NumberRecord{
      {"pid", pid},
      {"pidfd", pidfd},
      {"status", statusFd},
      {"stdin", stdio.parentIn.Release()},
      {"stdout", stdio.parentOut.Release()},
      {"stderr", stdio.parentErr.Release()},
      {"tty", stdio.tty ? 1 : 0},
  };
}

Napi::Value ContainerHandle::Attach(const Napi::CallbackInfo& info) {
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

        // The pid is our child and stays unreaped until ProcessHandle waits for it, so the
        // pidfd cannot refer to a recycled pid.
        int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
        if (pidfd < 0) {
          int error = errno;
          kill(pid, SIGKILL);
          waitpid(pid, nullptr, 0);
          return out.Fail("LXC_EXEC_FAILED", std::string("pidfd_open failed: ") + strerror(error));
        }
        out.value = AttachedRecord(pid, pidfd, -1, stdio, *teardown);
      },
      true,
      [teardown](Outcome& out) {
        // The environment ended before the answer was given (a worker terminated mid-exec).
        // If the command was attached after the teardown hook ran, free it here.
        auto* record = std::get_if<NumberRecord>(&out.value);
        if (record == nullptr) return;
        for (const auto& [key, n] : *record) {
          if (key == "pid") teardown->FreeUnclaimed(static_cast<pid_t>(n));
        }
      });
}

}  // namespace lxcts
