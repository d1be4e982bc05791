#include "attach_command.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <lxc/attach_options.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "strings.h"

namespace lxcts {
namespace {

constexpr const char* kDefaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

bool OpenPipe(UniqueFd& read, UniqueFd& write) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return false;
  read = AboveStdio(UniqueFd(fds[0]));
  write = AboveStdio(UniqueFd(fds[1]));
  return read.Valid() && write.Valid();
}

// Both ends are close-on-exec from the moment they exist (openpty() would leave a window
// in which a process forked by another thread inherits the slave, and the master then
// never reads end-of-file).
bool OpenTerminal(AttachStdio& stdio, int cols, int rows) {
  UniqueFd master = AboveStdio(UniqueFd(posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC)));
  if (!master.Valid() || grantpt(master.Get()) != 0 || unlockpt(master.Get()) != 0) return false;
  char name[128];
  if (ptsname_r(master.Get(), name, sizeof name) != 0) return false;
  stdio.childIn = AboveStdio(UniqueFd(open(name, O_RDWR | O_NOCTTY | O_CLOEXEC)));
  if (!stdio.childIn.Valid()) return false;
  struct winsize size = {};
  size.ws_col = static_cast<unsigned short>(cols);
  size.ws_row = static_cast<unsigned short>(rows);
  if (ioctl(master.Get(), TIOCSWINSZ, &size) != 0) return false;
  stdio.parentIn = UniqueFd(fcntl(master.Get(), F_DUPFD_CLOEXEC, 3));
  stdio.parentOut = std::move(master);
  return stdio.parentIn.Valid();
}

// Runs in the attached child, inside the container, before the command: makes the
// terminal on fd 0 its controlling terminal, so that Ctrl-C typed into it becomes SIGINT
// for the command's foreground job, and job control works.
int RunInTerminal(void* payload) {
  setsid();
  ioctl(STDIN_FILENO, TIOCSCTTY, 0);
  return lxc_attach_run_command(payload);
}

bool HasPath(const std::vector<std::string>& env) {
  for (const std::string& entry : env) {
    if (entry.rfind("PATH=", 0) == 0) return true;
  }
  return false;
}

}  // namespace

bool OpenAttachStdio(const AttachRequest& request, AttachStdio& stdio, std::string& error) {
  stdio.tty = request.tty;
  if (request.tty) {
    if (OpenTerminal(stdio, request.cols, request.rows)) return true;
    error = std::string("cannot open a pseudo-terminal: ") + strerror(errno);
    return false;
  }
  if (!OpenPipe(stdio.parentOut, stdio.childOut) || !OpenPipe(stdio.parentErr, stdio.childErr)) {
    error = std::string("cannot create pipes: ") + strerror(errno);
    return false;
  }
  if (request.pipeStdin) {
    if (OpenPipe(stdio.childIn, stdio.parentIn)) return true;
    error = std::string("cannot create a pipe: ") + strerror(errno);
    return false;
  }
  stdio.childIn = AboveStdio(UniqueFd(open("/dev/null", O_RDONLY | O_CLOEXEC)));
  if (stdio.childIn.Valid()) return true;
  error = std::string("cannot open /dev/null: ") + strerror(errno);
  return false;
}

pid_t AttachCommand(lxc_container* c, AttachRequest& request, int in, int out, int err) {
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
  // Never fd 0 of the calling process: see AboveStdio().
  options.stdin_fd = in;
  options.stdout_fd = out;
  options.stderr_fd = err;

  lxc_attach_command_t command = {argv[0], argv.data()};
  pid_t pid = -1;
  int rc = c->attach(c, request.tty ? RunInTerminal : lxc_attach_run_command, &command, &options, &pid);
  return rc < 0 || pid <= 0 ? -1 : pid;
}

}  // namespace lxcts
