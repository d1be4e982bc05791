// ContainerHandle::Attach: start a command inside a running container, wired to pipes.
//
// Unlike attach_run_wait (what go-lxc and python3-lxc use), nothing here waits: attach()
// forks and returns the command's pid, the parent's pipe ends go back to JavaScript where
// libuv reads them as they fill, and a ProcessHandle (process.cc) reaps the pid through a
// pidfd. No thread is ever blocked on the command's output or exit.
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <lxc/attach_options.h>

#include <csignal>

#include <cerrno>
#include <cstdlib>
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
  bool tty = false;  // a pseudo-terminal instead of pipes, for interactive shells
  int cols = 80;
  int rows = 24;
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
  request.tty = o.Get("tty").ToBoolean().Value();
  if (o.Get("cols").IsNumber()) request.cols = o.Get("cols").As<Napi::Number>().Int32Value();
  if (o.Get("rows").IsNumber()) request.rows = o.Get("rows").As<Napi::Number>().Int32Value();
  return request;
}

// Runs in the attached child, inside the container, before the command: makes the
// terminal on fd 0 its controlling terminal, so that Ctrl-C typed into it becomes SIGINT
// for the command's foreground job, and job control works.
int RunInTerminal(void* payload) {
  setsid();
  ioctl(STDIN_FILENO, TIOCSCTTY, 0);
  return lxc_attach_run_command(payload);
}

// Both ends are close-on-exec from the moment they exist (openpty() would leave a window
// in which a process forked by another thread inherits the slave, and the master then
// never reads end-of-file).
bool OpenTerminal(UniqueFd& master, UniqueFd& slave, int cols, int rows) {
  master = AboveStdio(UniqueFd(posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC)));
  if (!master.Valid() || grantpt(master.Get()) != 0 || unlockpt(master.Get()) != 0) return false;
  char name[128];
  if (ptsname_r(master.Get(), name, sizeof name) != 0) return false;
  slave = AboveStdio(UniqueFd(open(name, O_RDWR | O_NOCTTY | O_CLOEXEC)));
  if (!slave.Valid()) return false;
  struct winsize size = {};
  size.ws_col = static_cast<unsigned short>(cols);
  size.ws_row = static_cast<unsigned short>(rows);
  return ioctl(master.Get(), TIOCSWINSZ, &size) == 0;
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
  return Run(info, "exec", Runner::kPool, [request](lxc_container* c, HandleState& s, Outcome& out) mutable {
    // Not checked first: asking the monitor whether the container runs costs a round
    // trip on every exec; attach() finds out anyway, and a failure is explained below.
    Pipe in, stdoutPipe, stderrPipe;
    UniqueFd devNull, master, slave;
    if (request.tty) {
      if (!OpenTerminal(master, slave, request.cols, request.rows)) {
        return out.Fail("LXC_EXEC_FAILED", std::string("cannot open a pseudo-terminal: ") + strerror(errno));
      }
    } else if (!OpenPipe(stdoutPipe) || !OpenPipe(stderrPipe)) {
      return out.Fail("LXC_EXEC_FAILED", std::string("cannot create pipes: ") + strerror(errno));
    }
    if (request.tty) {
      // stdin, stdout and stderr are all the terminal.
    } else if (request.pipeStdin) {
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
    if (request.tty) {
      options.stdin_fd = options.stdout_fd = options.stderr_fd = slave.Get();
    } else {
      options.stdin_fd = request.pipeStdin ? in.read.Get() : devNull.Get();
      options.stdout_fd = stdoutPipe.write.Get();
      options.stderr_fd = stderrPipe.write.Get();
    }

    lxc_attach_command_t command = {argv[0], argv.data()};
    pid_t pid = -1;
    int rc = c->attach(c, request.tty ? RunInTerminal : lxc_attach_run_command, &command, &options, &pid);
    slave.Reset();

    // The child has its copies now; ours must go, or the reader never sees end-of-file.
    in.read.Reset();
    stdoutPipe.write.Reset();
    stderrPipe.write.Reset();
    devNull.Reset();
    if (rc < 0 || pid <= 0) {
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
    // With a terminal, the master is both the command's input and its output; a second
    // descriptor for writing lets the two directions be closed independently.
    UniqueFd masterWrite(request.tty ? fcntl(master.Get(), F_DUPFD_CLOEXEC, 3) : -1);
    out.value = NumberRecord{
        {"pid", pid},
        {"pidfd", pidfd},
        {"stdin", request.tty ? masterWrite.Release() : request.pipeStdin ? in.write.Release() : -1},
        {"stdout", request.tty ? master.Release() : stdoutPipe.read.Release()},
        {"stderr", request.tty ? -1 : stderrPipe.read.Release()},
        {"tty", request.tty ? 1 : 0},
    };
  });
}

}  // namespace lxcts
