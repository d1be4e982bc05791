#include "attach_command.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <lxc/attach_options.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "config_item.h"
#include "sealed_program.h"
#include "string_arrays.h"

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

bool SetWindowSize(int master, int cols, int rows) {
  struct winsize size = {};
  size.ws_col = static_cast<unsigned short>(cols);
  size.ws_row = static_cast<unsigned short>(rows);
  return ioctl(master, TIOCSWINSZ, &size) == 0;
}

// Takes a master and its slave: sets the window size and keeps two descriptors of the master.
bool KeepTerminal(AttachStdio& stdio, UniqueFd master, UniqueFd slave, int cols, int rows) {
  stdio.childIn = AboveStdio(std::move(slave));
  master = AboveStdio(std::move(master));
  if (!stdio.childIn.Valid() || !master.Valid() || !SetWindowSize(master.Get(), cols, rows)) return false;
  stdio.parentIn = UniqueFd(fcntl(master.Get(), F_DUPFD_CLOEXEC, 3));
  stdio.parentOut = std::move(master);
  return stdio.parentIn.Valid();
}

// A terminal of this host's devpts: only for a container that has no devpts of its own.
// Both ends are close-on-exec from the moment they exist (openpty() would leave a window
// in which a process forked by another thread inherits the slave, and the master then
// never reads end-of-file).
bool OpenHostTerminal(AttachStdio& stdio, int cols, int rows) {
  UniqueFd master(posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!master.Valid() || grantpt(master.Get()) != 0 || unlockpt(master.Get()) != 0) return false;
  char name[128];
  if (ptsname_r(master.Get(), name, sizeof name) != 0) return false;
  UniqueFd slave(open(name, O_RDWR | O_NOCTTY | O_CLOEXEC));
  return slave.Valid() && KeepTerminal(stdio, std::move(master), std::move(slave), cols, rows);
}

// The host uid the container's root runs as: its init's uid_map, "0 <host> <count>" for an
// unprivileged container. -1 when there is no such line (or no init to ask).
int64_t HostUidOfContainerRoot(lxc_container* c) {
  pid_t init = c->init_pid(c);
  if (init <= 0) return -1;
  std::string path = "/proc/" + std::to_string(init) + "/uid_map";
  FILE* map = fopen(path.c_str(), "re");
  if (map == nullptr) return -1;
  int64_t inside, outside, count, host = -1;
  while (fscanf(map, "%" SCNd64 " %" SCNd64 " %" SCNd64, &inside, &outside, &count) == 3) {
    if (inside == 0 && count > 0) host = outside;
  }
  fclose(map);
  return host;
}

// A terminal of the container's own devpts, as lxc-attach allocates it (LXC 5): the
// container's monitor hands out its devpts mount, the master comes from that instance's
// ptmx, and TIOCGPTPEER opens the slave through the master, so no path is looked up in
// a mount namespace the container controls. The command then sees /dev/pts/N of its own
// /dev/pts, and `tty` and ttyname() work inside.
// Returns 0, ENODEV when the container has no devpts of its own, or the errno that failed.
int OpenContainerTerminal(lxc_container* c, AttachStdio& stdio, int cols, int rows) {
  UniqueFd devpts(c->devpts_fd(c));
  if (!devpts.Valid()) return ENODEV;
  UniqueFd master(openat(devpts.Get(), "ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC | O_NOFOLLOW));
  if (!master.Valid()) return errno;
  // The monitor is trusted, the container's root is not: this must be a ptmx, not
  // whatever else a devpts-looking mount could hold.
  struct stat st;
  if (fstat(master.Get(), &st) != 0) return errno;
  if (!S_ISCHR(st.st_mode) || major(st.st_rdev) != 5 || minor(st.st_rdev) != 2) return ENOTTY;
  if (unlockpt(master.Get()) != 0) return errno;
  UniqueFd slave(ioctl(master.Get(), TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!slave.Valid()) return errno;
  // The new terminal belongs to this process's uid, which an unprivileged container does
  // not map: inside it would belong to nobody, and liblxc, which hands the command's stdio
  // to the command's user from inside the container, could not take it over. Given to the
  // container's root first, as lxc-attach does (lxc_terminal_map_ids).
  int64_t root = HostUidOfContainerRoot(c);
  if (root > 0 && fchown(slave.Get(), static_cast<uid_t>(root), static_cast<gid_t>(-1)) != 0) return errno;
  return KeepTerminal(stdio, std::move(master), std::move(slave), cols, rows) ? 0 : errno;
}

bool OpenTerminal(lxc_container* c, AttachStdio& stdio, int cols, int rows, std::string& error) {
  int rc = OpenContainerTerminal(c, stdio, cols, rows);
  if (rc == 0) return true;
  if (rc != ENODEV) {
    error = rc == ENOSPC ? "the container has no free pseudo-terminal (its lxc.pty.max is reached)"
                         : std::string("cannot open a pseudo-terminal in the container: ") + strerror(rc);
    return false;
  }
  // No devpts instance (lxc.pty.max = 0, or the container is not running: attach then fails
  // and says so). lxc-attach falls back to a terminal of the host the same way; the command
  // then sees a terminal that has no name inside the container.
  if (OpenHostTerminal(stdio, cols, rows)) return true;
  error = std::string("cannot open a pseudo-terminal: ") + strerror(errno);
  return false;
}

// What the attached child needs to start the command.
struct RunPayload {
  lxc_attach_command_t command;
  const char* cwd;  // nullptr: where liblxc left the child
  bool terminal;
  int program;  // >= 0: the host's program to run (SealedProgram) instead of argv[0]
};

// "lxcts: cannot <what> "<subject>": <reason>" on the command's stderr. No allocation:
// this runs in a child forked from a threaded process, where malloc's lock may be held.
void Complain(const char* what, const char* subject, int error) {
  char line[512];
  size_t used = 0;
  for (const char* part : {"lxcts: cannot ", what, " \"", subject, "\": ", strerrordesc_np(error), "\n"}) {
    if (part == nullptr) part = "unknown error";
    size_t room = sizeof line - used - 1;
    size_t n = strnlen(part, room);
    memcpy(line + used, part, n);
    used += n;
  }
  if (line[used - 1] != '\n') line[used - 1] = '\n';  // a long subject is cut, the line still ends
  ssize_t ignored = write(STDERR_FILENO, line, used);
  (void)ignored;
}

// Runs in the attached child, inside the container, as the command's user.
int RunCommand(void* payload) {
  auto* run = static_cast<RunPayload*>(payload);
  if (run->terminal) {
    // The terminal on fd 0 becomes the controlling terminal, so that Ctrl-C typed into it
    // becomes SIGINT for the command's foreground job, and job control works.
    setsid();
    ioctl(STDIN_FILENO, TIOCSCTTY, 0);
  }
  // liblxc changes to initial_cwd before it drops to the command's uid and, when that
  // fails, only logs a warning and runs the command in "/" (lxc-attach does the same with
  // its own working directory). A command asked to run somewhere must not run elsewhere:
  // it fails as `docker exec -w` does, with 126 and the reason. Done again here, as the
  // command's user, so that a directory that user cannot enter fails too.
  if (run->cwd != nullptr && chdir(run->cwd) != 0) {
    Complain("change to directory", run->cwd, errno);
    return 126;
  }
  if (run->program >= 0) {
    fexecve(run->program, run->command.argv, environ);
  } else {
    execvp(run->command.program, run->command.argv);
  }
  int error = errno;
  // As a shell reports it: 127 for a program that is not there, 126 for one that cannot
  // run (not executable, E2BIG, ENAMETOOLONG...), with the reason instead of silence.
  Complain("run", run->command.program, error);
  return error == ENOENT ? 127 : 126;
}

bool HasPath(const std::vector<std::string>& env) {
  for (const std::string& entry : env) {
    if (entry.rfind("PATH=", 0) == 0) return true;
  }
  return false;
}

// The command's variables, in the order they are set (a later one wins). liblxc's
// LXC_ATTACH_KEEP_ENV would keep the environment of the process that attaches, which in
// the lxcts-attach helper is the one Node had when it spawned the helper, not the caller's
// now. So the environment is always cleared and the caller's, sent with the request, goes
// first, under what liblxc sets over a kept one (container=lxc, then lxc.environment):
// what lxc-attach --keep-env gives.
std::vector<std::string> CommandEnvironment(lxc_container* c, const AttachRequest& request) {
  std::vector<std::string> vars;
  // With clearEnv, callerEnv holds only the variables of envToKeep (lxc-attach's
  // --keep-var): taken from the caller's environment, in the same place.
  if (!request.clearEnv || !request.callerEnv.empty()) {
    vars = request.callerEnv;
    vars.emplace_back("container=lxc");
    for (std::string& entry : SplitLines(ReadConfigItem(c, "lxc.environment"))) vars.push_back(std::move(entry));
  }
  vars.insert(vars.end(), request.env.begin(), request.env.end());
  // A cleared environment still needs a PATH for execvp to find the command.
  if (!HasPath(vars)) vars.emplace_back(kDefaultPath);
  return vars;
}

}  // namespace

bool OpenAttachStdio(lxc_container* c, const AttachRequest& request, AttachStdio& stdio, std::string& error) {
  stdio.tty = request.tty;
  if (request.tty) return OpenTerminal(c, stdio, request.cols, request.rows, error);
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
  std::vector<std::string> vars = CommandEnvironment(c, request);
  std::vector<char*> env = ArgvOf(vars);
  std::vector<char*> argv = ArgvOf(request.argv);
  // Never this process's working directory, which liblxc would carry into the container
  // when the same path exists there: the helper's is the one Node had when it spawned it,
  // and a directory of the host means nothing inside the container anyway. "/" as go-lxc.
  std::string cwd = request.cwd.empty() ? "/" : request.cwd;

  lxc_attach_options_t options = LXC_ATTACH_OPTIONS_DEFAULT;
  options.env_policy = LXC_ATTACH_CLEAR_ENV;
  options.extra_env_vars = env.data();
  options.initial_cwd = cwd.data();
  if (request.uid >= 0) options.uid = static_cast<uid_t>(request.uid);
  if (request.gid >= 0) options.gid = static_cast<gid_t>(request.gid);
  if (request.namespaces != -1) options.namespaces = request.namespaces;
  if (request.personality != -1) options.personality = request.personality;
  std::vector<gid_t> groups(request.groups.begin(), request.groups.end());
  if (!groups.empty()) {
    options.groups = lxc_groups_t{groups.size(), groups.data()};
    options.attach_flags |= LXC_ATTACH_SETGROUPS;
  }
  if (request.remountSysProc) options.attach_flags |= LXC_ATTACH_REMOUNT_PROC_SYS;
  // As go-lxc and `lxc-attach --elevated-privileges`: the command stays in the caller's
  // cgroup, keeps the capabilities the container drops, and gets no LSM profile.
  if (request.elevatedPrivileges) options.attach_flags &= ~(LXC_ATTACH_MOVE_TO_CGROUP | LXC_ATTACH_DROP_CAPABILITIES | LXC_ATTACH_LSM_EXEC);
  // Never fd 0 of the calling process: see AboveStdio().
  options.stdin_fd = in;
  options.stdout_fd = out;
  options.stderr_fd = err;

  UniqueFd program;
  if (!request.program.empty()) {
    std::string error;
    program = SealedProgram(request.program, error);
    if (!program.Valid()) return -1;
  }
  RunPayload run = {{argv[0], argv.data()}, request.cwd.empty() ? nullptr : request.cwd.c_str(), request.tty, program.Get()};
  pid_t pid = -1;
  int rc = c->attach(c, RunCommand, &run, &options, &pid);
  return rc < 0 || pid <= 0 ? -1 : pid;
}

}  // namespace lxcts
