// ContainerHandle::Attach: start a command inside a running container, wired to pipes.
//
// Unlike attach_run_wait (what go-lxc and python3-lxc use), nothing here waits: attach()
// forks and returns the command's pid, the parent's pipe ends go back to JavaScript where
// libuv reads them as they fill, and a ProcessHandle (process.cc) reaps the pid through a
// pidfd. No thread is ever blocked on the command's output or exit.
#include <fcntl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <lxc/attach_options.h>

#include <csignal>

#include <cerrno>
#include <cstring>

#include "args.h"
#include "container.h"
#include "fds.h"
#include "preconditions.h"

namespace lxcts {
namespace {

constexpr const char* kDefaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

struct AttachRequest {
  std::vector<std::string> argv;
  std::vector<std::string> env;  // KEY=VALUE
  bool clearEnv = true;
  bool pipeStdin = false;
  std::string cwd;
  int64_t uid = -1;
  int64_t gid = -1;
};

struct Pipe {
  UniqueFd read;
  UniqueFd write;
};

bool OpenPipe(Pipe& pipe) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return false;
  pipe.read = AboveStdio(UniqueFd(fds[0]));
  pipe.write = AboveStdio(UniqueFd(fds[1]));
  return pipe.read.Valid() && pipe.write.Valid();
}

AttachRequest ReadRequest(const Napi::CallbackInfo& info) {
  AttachRequest request;
  request.argv = StringArrayArg(info, 0, "argv");
  if (request.argv.empty()) throw Napi::TypeError::New(info.Env(), "argv must not be empty");
  if (!info[1].IsObject()) throw Napi::TypeError::New(info.Env(), "attach options must be an object");
  Napi::Object o = info[1].As<Napi::Object>();
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
  return request;
}

bool HasPath(const std::vector<std::string>& env) {
  for (const std::string& entry : env) {
    if (entry.rfind("PATH=", 0) == 0) return true;
  }
  return false;
}

}  // namespace

Napi::Value ContainerHandle::Attach(const Napi::CallbackInfo& info) {
  AttachRequest request = ReadRequest(info);
  return Run(info, "exec", Runner::kPool, [this, request](lxc_container* c, Outcome& out) mutable {
    if (!RequireRunning(c, Subject(), out)) return;

    Pipe in, stdoutPipe, stderrPipe;
    UniqueFd devNull;
    if (!OpenPipe(stdoutPipe) || !OpenPipe(stderrPipe)) {
      return out.Fail("LXC_EXEC_FAILED", std::string("cannot create pipes: ") + strerror(errno));
    }
    if (request.pipeStdin) {
      if (!OpenPipe(in)) return out.Fail("LXC_EXEC_FAILED", std::string("cannot create a pipe: ") + strerror(errno));
    } else {
      devNull = AboveStdio(UniqueFd(open("/dev/null", O_RDONLY | O_CLOEXEC)));
    }

    // A cleared environment still needs a PATH for execvp to find the command.
    if (request.clearEnv && !HasPath(request.env)) request.env.emplace_back(kDefaultPath);
    std::vector<char*> env = ArgvOf(request.env);
    std::vector<char*> argv = ArgvOf(request.argv);

    lxc_attach_options_t options = LXC_ATTACH_OPTIONS_DEFAULT;
    options.env_policy = request.clearEnv ? LXC_ATTACH_CLEAR_ENV : LXC_ATTACH_KEEP_ENV;
    options.extra_env_vars = env.data();
    if (!request.cwd.empty()) options.initial_cwd = request.cwd.data();
    if (request.uid >= 0) options.uid = static_cast<uid_t>(request.uid);
    if (request.gid >= 0) options.gid = static_cast<gid_t>(request.gid);
    // Never fd 0 of this process: see AboveStdio().
    options.stdin_fd = request.pipeStdin ? in.read.Get() : devNull.Get();
    options.stdout_fd = stdoutPipe.write.Get();
    options.stderr_fd = stderrPipe.write.Get();

    lxc_attach_command_t command = {argv[0], argv.data()};
    pid_t pid = -1;
    int rc = c->attach(c, lxc_attach_run_command, &command, &options, &pid);

    // The child has its copies now; ours must go, or the reader never sees end-of-file.
    in.read.Reset();
    stdoutPipe.write.Reset();
    stderrPipe.write.Reset();
    devNull.Reset();
    if (rc < 0 || pid <= 0) return out.Fail("LXC_EXEC_FAILED", "cannot attach to " + Subject());

    // The pid is our child and stays unreaped until ProcessHandle waits for it, so the
    // pidfd cannot refer to a recycled pid.
    int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
    if (pidfd < 0) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
      return out.Fail("LXC_EXEC_FAILED", std::string("pidfd_open failed: ") + strerror(errno));
    }
    out.value = NumberRecord{
        {"pid", pid},
        {"pidfd", pidfd},
        {"stdin", request.pipeStdin ? in.write.Release() : -1},
        {"stdout", stdoutPipe.read.Release()},
        {"stderr", stderrPipe.read.Release()},
    };
  });
}

}  // namespace lxcts
