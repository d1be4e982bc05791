// lxcts-resident: the exec fast path's process inside a container (src/lxc/resident-exec.ts).
//
// The addon starts it through liblxc's attach, exactly as it starts lxcts-files or any
// command (from a sealed copy of the host's file), so it has what an attached process gets:
// the container's namespaces, cgroup, capabilities, LSM label, seccomp filter, personality,
// environment and limits. From then on it forks each command the host asks for instead of
// liblxc attaching it: the command inherits all of that from it, and gets its own uid, gid,
// environment, working directory and the caller's stdin/stdout/stderr (received with
// SCM_RIGHTS). The wire is resident_wire.h.
//
// It exits when the host closes the connection, and dies with the container like every
// process in it. It is linked statically: the container's C library, if any, is not ours.
// It is single-threaded: fork() here copies a few pages, not a Node process.
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "resident_wire.h"

extern char** environ;

namespace lxcts {
namespace {

using resident::ExitReport;
using resident::RequestHeader;
using resident::StartReply;

// One command: its status socket, whether the host has read its pidfd, how it ended.
struct Command {
  int status = -1;
  bool acked = false;
};

// Everything a command starts from that is the resident's own, as liblxc gave it.
struct Origin {
  sigset_t mask;                 // before SIGCHLD was blocked for the signalfd
  std::vector<std::string> env;  // KEY=VALUE
};

// "lxcts: cannot <what> "<subject>": <reason>", as attach_command.cc's Complain() says it.
// No allocation: it runs in the vfork()ed child, on the resident's memory.
void Complain(const char* what, const char* subject, int error) {
  char line[512];
  size_t used = 0;
  for (const char* part : {"lxcts: cannot ", what, " \"", subject, "\": ", strerrordesc_np(error), "\n"}) {
    if (part == nullptr) part = "unknown error";
    size_t n = strnlen(part, sizeof line - used - 1);
    memcpy(line + used, part, n);
    used += n;
  }
  if (line[used - 1] != '\n') line[used - 1] = '\n';
  ssize_t ignored = write(STDERR_FILENO, line, used);
  (void)ignored;
}

bool SendWithFd(int socket, const void* data, size_t size, int fd) {
  struct iovec iov = {const_cast<void*>(data), size};
  struct msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  if (fd >= 0) {
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    struct cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cmsg), &fd, sizeof fd);
  }
  ssize_t n;
  do n = sendmsg(socket, &msg, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  return n == static_cast<ssize_t>(size);
}

// The variables: the resident's own (container=lxc, PATH, lxc.environment), then the
// request's, a later one replacing an earlier one of the same name (as putenv() would).
std::vector<std::string> Environment(const Origin& origin, const std::vector<std::string>& extra) {
  std::vector<std::string> vars = origin.env;
  for (const std::string& entry : extra) {
    std::string key = entry.substr(0, entry.find('=') + 1);
    bool replaced = false;
    for (std::string& var : vars) {
      if (var.compare(0, key.size(), key) == 0) {
        var = entry;
        replaced = true;
        break;
      }
    }
    if (!replaced) vars.push_back(entry);
  }
  return vars;
}

// One command, ready to run: everything the child needs is made before vfork(), since the
// child runs on the resident's memory until it executes (and must not allocate).
struct Launch {
  pid_t parent;
  const sigset_t* mask;
  int32_t uid, gid;
  std::string cwd, uidText, gidText;
  std::vector<std::string> argv, env;
  std::vector<char*> args, vars;
  const int* stdio;  // stdin, stdout, stderr
};

// In the vfork()ed child: becomes the command, or exits 126/127 saying why (as RunCommand does).
[[noreturn]] void RunChild(const Launch& launch) {
  for (int fd = 0; fd < 3; fd++) {
    if (dup2(launch.stdio[fd], fd) < 0) _exit(126);
  }
  sigprocmask(SIG_SETMASK, launch.mask, nullptr);
  // liblxc's attach sets the gid, then the uid; the groups are the resident's (liblxc's).
  if (launch.gid >= 0 && setgid(static_cast<gid_t>(launch.gid)) != 0) {
    Complain("change to group", launch.gidText.c_str(), errno);
    _exit(126);
  }
  if (launch.uid >= 0 && setuid(static_cast<uid_t>(launch.uid)) != 0) {
    Complain("change to user", launch.uidText.c_str(), errno);
    _exit(126);
  }
  // Killed with the resident (set after setuid, which clears it): a resident killed
  // mid-command must not leave the host waiting on a command nobody will report.
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != launch.parent) _exit(126);
  if (chdir(launch.cwd.c_str()) != 0) {
    Complain("change to directory", launch.cwd.c_str(), errno);
    _exit(126);
  }
  // execvp() looks the program up in the command's PATH; the resident puts its own back.
  environ = const_cast<char**>(launch.vars.data());
  execvp(launch.args[0], const_cast<char**>(launch.args.data()));
  int error = errno;
  Complain("run", launch.args[0], error);
  _exit(error == ENOENT ? 127 : 126);
}

class Resident {
 public:
  Resident(Origin origin, int connection, int signals) : origin_(std::move(origin)), connection_(connection), signals_(signals) {}

  int Run() {
    for (;;) {
      // Closed by the host: commands still running are waited for (they die if we do).
      if (connection_ < 0 && commands_.empty()) return 0;
      std::vector<struct pollfd> fds = {{connection_, POLLIN, 0}, {signals_, POLLIN, 0}};
      std::vector<pid_t> waiting;  // commands whose status socket is watched for the host's ack
      for (auto& [pid, command] : commands_) {
        if (command.acked) continue;
        fds.push_back({command.status, POLLIN, 0});
        waiting.push_back(pid);
      }
      // A host that never greets us (it died before it took its end) is waited for 30 s.
      int ready = poll(fds.data(), fds.size(), hello_ >= 0 ? 30000 : -1);
      if (ready < 0 && errno == EINTR) continue;
      if (ready < 0 || (ready == 0 && hello_ >= 0)) return 1;
      if (fds[1].revents != 0) Reap();
      for (size_t i = 2; i < fds.size(); i++) {
        if (fds[i].revents != 0) Acked(waiting[i - 2]);
      }
      if (fds[0].revents != 0 && !Receive()) {
        close(connection_);  // the host closed the connection
        connection_ = -1;    // poll() ignores a negative descriptor
      }
    }
  }

 private:
  // One message from the host; false at end-of-file.
  bool Receive() {
    std::vector<char> buffer(resident::kMaxRequest);
    struct iovec iov = {buffer.data(), buffer.size()};
    struct msghdr msg = {};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int) * resident::kRequestFds)];
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n;
    do n = recvmsg(connection_, &msg, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    if (n <= 0) return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
    std::vector<int> received;
    for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < count; i++) {
        int fd;
        memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
        received.push_back(fd);
      }
    }
    uint32_t magic = 0;
    if (n >= static_cast<ssize_t>(sizeof magic)) memcpy(&magic, buffer.data(), sizeof magic);
    if (magic == resident::kHello && received.empty() && hello_ >= 0) {
      close(hello_);  // the host holds its end now: our copy would hide its close
      hello_ = -1;
    } else if (magic == resident::kRequest && received.size() == resident::kRequestFds && (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) == 0) {
      Start(buffer.data(), static_cast<size_t>(n), received.data());
    }
    for (int fd : received) close(fd);  // the command has its copies
    return true;
  }

  void Start(const char* data, size_t size, const int fds[resident::kRequestFds]) {
    RequestHeader header;
    if (size < sizeof header) return;
    memcpy(&header, data, sizeof header);
    // cwd, argv and env, each ended by NUL, and nothing after them.
    std::vector<std::string> strings;
    size_t at = sizeof header;
    while (at < size) {
      const char* end = static_cast<const char*>(memchr(data + at, '\0', size - at));
      if (end == nullptr) return;
      strings.emplace_back(data + at, end);
      at = static_cast<size_t>(end - data) + 1;
    }
    if (header.argc == 0 || strings.size() != 1 + static_cast<size_t>(header.argc) + header.envc) return;
    Launch launch;
    launch.parent = getpid();
    launch.mask = &origin_.mask;
    launch.uid = header.uid;
    launch.gid = header.gid;
    launch.uidText = std::to_string(header.uid);
    launch.gidText = std::to_string(header.gid);
    launch.cwd = strings[0];
    launch.argv.assign(strings.begin() + 1, strings.begin() + 1 + header.argc);
    launch.env = Environment(origin_, std::vector<std::string>(strings.begin() + 1 + header.argc, strings.end()));
    for (std::string& a : launch.argv) launch.args.push_back(a.data());
    launch.args.push_back(nullptr);
    for (std::string& v : launch.env) launch.vars.push_back(v.data());
    launch.vars.push_back(nullptr);
    launch.stdio = fds + 1;
    int status = fcntl(fds[0], F_DUPFD_CLOEXEC, 3);
    if (status < 0) return;
    char** own = environ;
    // vfork: no copy of the resident's page tables, and the child runs first, until it execs.
    pid_t pid = vfork();
    if (pid == 0) RunChild(launch);
    environ = own;
    StartReply reply = {resident::kStarted, pid > 0 ? pid : 0, pid > 0 ? 0 : errno};
    int pidfd = pid > 0 ? static_cast<int>(syscall(SYS_pidfd_open, pid, 0)) : -1;
    if (pid > 0 && pidfd < 0) reply.error = errno;  // the host fails the call; the command still runs and is reaped
    SendWithFd(status, &reply, sizeof reply, pidfd);
    if (pidfd >= 0) close(pidfd);
    if (pid <= 0) {
      close(status);
      return;
    }
    commands_[pid].status = status;
  }

  // The host has read the command's pidfd (or gone): it may be reaped from now on.
  void Acked(pid_t pid) {
    Command& command = commands_[pid];
    char byte;
    ssize_t n;
    do n = recv(command.status, &byte, 1, MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    command.acked = true;
    ReapOne(pid);
  }

  void Reap() {
    struct signalfd_siginfo info;
    while (read(signals_, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {}
    std::vector<pid_t> acked;
    for (auto& [pid, command] : commands_) {
      if (command.acked) acked.push_back(pid);
    }
    for (pid_t pid : acked) ReapOne(pid);
  }

  void ReapOne(pid_t pid) {
    int status = 0;
    pid_t r;
    do r = waitpid(pid, &status, WNOHANG);
    while (r < 0 && errno == EINTR);
    if (r == 0) return;
    auto it = commands_.find(pid);
    if (r == pid) {
      ExitReport report = {WIFEXITED(status) ? WEXITSTATUS(status) : -1, WIFSIGNALED(status) ? WTERMSIG(status) : 0};
      SendWithFd(it->second.status, &report, sizeof report, -1);
    }
    close(it->second.status);
    commands_.erase(it);
  }

 public:
  int hello_ = -1;  // the host's end, until it says it holds its own copy

 private:
  Origin origin_;
  int connection_;
  int signals_;
  std::map<pid_t, Command> commands_;
};

}  // namespace
}  // namespace lxcts

int main() {
  using namespace lxcts;
  // Run from a sealed memfd, its name would be the memfd's: ps and top show this one.
  prctl(PR_SET_NAME, "lxcts-resident");
  Origin origin;
  for (char** e = environ; *e != nullptr; e++) origin.env.emplace_back(*e);
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  if (sigprocmask(SIG_BLOCK, &chld, &origin.mask) != 0) return 1;
  int signals = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
  int pair[2];
  if (signals < 0 || socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) {
    perror("lxcts-resident");
    return 1;
  }
  // The host takes pair[1] with pidfd_getfd(); stdout then ends (the host reads no more).
  char ready[64];
  int length = snprintf(ready, sizeof ready, "lxcts-resident %d\n", pair[1]);
  if (write(STDOUT_FILENO, ready, static_cast<size_t>(length)) != length) return 1;
  int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null >= 0) {
    dup2(null, STDOUT_FILENO);
    close(null);
  }
  Resident resident(std::move(origin), pair[0], signals);
  resident.hello_ = pair[1];
  return resident.Run();
}
