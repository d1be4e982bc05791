// lxcts-lifecycle --serve: one resident lifecycle helper per Node environment, which forks a
// process per call instead of the addon spawning the helper anew for each.
//
// Why: a spawn from Node is an exec of the helper, the dynamic linking of liblxc and its
// libraries, and a vfork of Node's threads, about 1-2 ms per call and three calls per
// clone + start + stop + destroy. A fork of this small, single-threaded process that has
// all of that done costs a fraction. Each call still runs in a process of its own, exactly
// as the one-shot helper ran it (RunLifecycleCall): its own session and process group,
// signals at their defaults, the caller's cwd and environment, fds 0-4 as the one-shot
// helper has them, and its own command line (tests and `ps` find a call by it). Only its
// parent differs: this server, whose end its parent-death signal now follows; the server
// ends when the addon closes the control socket or Node dies.
//
// The process for the next call is forked ahead of it: a spare, which waits on the control
// socket itself. A request then wakes one process, not two, and no fork stands between it
// and liblxc (on a loaded machine the fork and the first time slice of its child cost
// 0.5-1.5 ms per call). The spare carries nothing of a request until it takes one: it is
// forked from this server, which never calls liblxc, keeps none of the server's other
// descriptors, and becomes the call's process exactly as a process forked for the request
// did. It hands the reply socket back to the server (for the exit report) and the server
// forks the next spare while the call runs.
#include "lifecycle_server.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "fds.h"
#include "lifecycle_wire.h"

extern char** environ;

namespace lxcts {
namespace {

constexpr int kControlFd = 3;
// Where a spare has its end of the handover socket (its call's process overwrites it).
constexpr int kSpareHandoverFd = 4;

// The memory of this process's command line, which a call's process overwrites with its
// own ("lxcts-lifecycle PARENT_PID OP NAME ..."), as if it had been spawned with it.
struct Title {
  std::string program;  // the server's argv[0], the helper's path
  char* start = nullptr;
  size_t size = 0;

  void Set(const std::vector<std::string>& args) const {
    if (size == 0) return;
    memset(start, 0, size);
    size_t at = 0;
    for (const std::string& a : args) {
      if (at + 1 >= size) break;
      size_t n = std::min(a.size(), size - 1 - at);
      memcpy(start + at, a.data(), n);
      at += n + 1;  // the NUL between arguments
    }
  }
};

struct Request {
  std::string cwd;
  std::vector<std::string> args;
  std::vector<std::string> env;
  bool hasConfig = false;
  bool hasOutput = false;
};

bool Decode(const std::string& data, Request& request) {
  LifecycleRequestHead head;
  if (data.size() < sizeof head) return false;
  memcpy(&head, data.data(), sizeof head);
  if (head.argc < 3 || head.argc > 4096 || head.envc > 65536) return false;
  request.hasConfig = head.hasConfig != 0;
  request.hasOutput = head.hasOutput != 0;
  std::vector<std::string> strings;
  size_t at = sizeof head;
  while (at < data.size()) {
    size_t end = data.find('\0', at);
    if (end == std::string::npos) return false;
    strings.emplace_back(data, at, end - at);
    at = end + 1;
  }
  if (strings.size() != 1 + static_cast<size_t>(head.argc) + head.envc) return false;
  request.cwd = strings[0];
  request.args.assign(strings.begin() + 1, strings.begin() + 1 + head.argc);
  request.env.assign(strings.begin() + 1 + head.argc, strings.end());
  return true;
}

void Report(int fd, LifecycleReport::Kind kind, int32_t value) {
  LifecycleReport report{kind, value};
  ssize_t n;
  do n = send(fd, &report, sizeof report, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
}

// In the forked process: becomes what a spawned one-shot helper would have been, then runs
// the call. Never returns.
[[noreturn]] void RunForked(Request& request, std::vector<UniqueFd>& fds, const Title& title, pid_t server) {
  // The server was spawned with every signal at its default; it ignores SIGPIPE and blocks
  // SIGCHLD (for its signalfd) only.
  sigset_t none;
  sigemptyset(&none);
  signal(SIGPIPE, SIG_DFL);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  setsid();
  // fds: reply, answer, [config], [stdout, stderr]. The answer goes to 3 and the config to
  // 4 (over the control socket and the signalfd, which this process has no use for).
  size_t next = 1;
  dup2(fds[next++].Get(), 3);
  if (request.hasConfig) {
    dup2(fds[next++].Get(), 4);
  } else {
    int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    dup2(null, 4);
  }
  if (request.hasOutput) {
    dup2(fds[next++].Get(), 1);
    dup2(fds[next++].Get(), 2);
  }
  // The reply socket, for the early "answered"; nothing else of the server's: not the
  // control socket, nor other calls' reply sockets.
  dup2(fds[0].Get(), kLifecycleReplyFd);
  fcntl(kLifecycleReplyFd, F_SETFD, FD_CLOEXEC);
  close_range(kLifecycleReplyFd + 1, ~0U, 0);
  if (!request.cwd.empty() && chdir(request.cwd.c_str()) != 0) {
    // The caller's cwd is gone: stay where the server is, as a spawn from it would fail
    // nothing either (lifecycle paths are absolute).
  }
  std::vector<char*> env;
  for (std::string& e : request.env) env.push_back(e.data());
  env.push_back(nullptr);
  environ = env.data();
  std::vector<std::string> args = request.args;
  args.insert(args.begin(), title.program);
  title.Set(args);
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  exit(RunLifecycleCall(static_cast<int>(args.size()), argv.data(), server, kLifecycleReplyFd));
}

// How many descriptors a request brings.
size_t WantedFds(const Request& request) { return 2 + (request.hasConfig ? 1 : 0) + (request.hasOutput ? 2 : 0); }

// In the spare: waits for the next request on the control socket and runs it. A request
// that cannot be read is answered by closing its reply socket, as the server did (the
// addon then runs the call the old way), and the spare waits for the next one.
[[noreturn]] void RunSpare(int handover, const Title& title, pid_t server) {
  // Ends with the server (a call sets its own parent-death signal again, with its handler).
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (getppid() != server) _exit(1);
  // Nothing of the server's but the control socket: not its signalfd, nor the reply
  // sockets of the calls it follows.
  if (handover != kSpareHandoverFd) dup2(handover, kSpareHandoverFd);
  close_range(kSpareHandoverFd + 1, ~0U, 0);
  title.Set({title.program, "--spare"});
  std::string data;
  for (;;) {
    std::vector<UniqueFd> received;
    ssize_t n = ReceiveDatagram(kControlFd, data, kMaxLifecycleRequest, received);
    if (n == 0) _exit(0);  // the addon closed the control socket
    if (n < 0 && errno != EMSGSIZE) _exit(1);
    Request request;
    if (n < 0 || received.empty() || !Decode(data, request) || received.size() != WantedFds(request)) continue;
    // The server died (this process is about to follow): the addon runs the call the old way.
    if (getppid() != server) _exit(1);
    const pid_t self = getpid();
    // The server reports this call's exit on the reply socket: it gets a copy, and this
    // process's pid, before anything of the call is done (killed before kForked, the call
    // is then run the old way; after it, it failed the way a killed helper fails).
    // Without the handover the server never learns of this call: it would take this process
    // for a spare still waiting, fork none and leave the control socket unread (every later
    // request waiting for this call to end), and never report this call's exit. Ending here
    // instead closes the reply socket without kForked, and the addon runs the call the old way.
    int reply = received[0].Get();
    if (!SendDatagram(kSpareHandoverFd, &self, sizeof self, &reply, 1)) _exit(1);
    Report(reply, LifecycleReport::kForked, self);
    RunForked(request, received, title, server);
  }
}

pid_t ForkSpare(int handover, const Title& title, pid_t server) {
  pid_t pid = fork();
  if (pid == 0) RunSpare(handover, title, server);
  return pid;
}

// Takes every handover queued on the server's end: a spare that took a request becomes a
// call whose exit the server reports on the reply socket it sent. One from a process that is
// not the current spare is refused (its reply socket closes: the addon hears nothing more).
void TakeHandovers(int handover, pid_t& spare, std::map<pid_t, UniqueFd>& calls) {
  std::string data;
  for (;;) {
    std::vector<UniqueFd> received;
    ssize_t n = ReceiveDatagram(handover, data, sizeof(pid_t), received);
    if (n < 0 && errno == EMSGSIZE) continue;
    if (n <= 0) return;
    pid_t pid;
    memcpy(&pid, data.data(), sizeof pid);
    if (n != sizeof pid || received.size() != 1 || pid != spare) continue;
    calls.emplace(pid, std::move(received[0]));
    spare = -1;  // it took a request: the next turn forks another
  }
}

}  // namespace

int ServeLifecycle(int argc, char** argv) {
  // Every library's symbols bound once, here, rather than lazily in each call's process,
  // which redid it in its copy of the tables (a fault per page written and a lookup per
  // first call of each of liblxc's functions and its libraries'): -z now binds only this
  // executable's own. The calls' own programs (templates, hooks) get the caller's
  // environment from the request, not this one.
  if (getenv("LD_BIND_NOW") == nullptr && setenv("LD_BIND_NOW", "1", 1) == 0) {
    execv("/proc/self/exe", argv);
    unsetenv("LD_BIND_NOW");  // not re-executed: go on as it is
  }
  // Executed as /proc/self/exe, this process (and every spare, call and container monitor it
  // forks) would be named "exe": pgrep, ps -C, killall and the OOM killer's log go by this name.
  prctl(PR_SET_NAME, "lxcts-lifecycle");
  fcntl(kControlFd, F_SETFD, FD_CLOEXEC);
  signal(SIGPIPE, SIG_IGN);
  Title title;
  if (argc > 0) {
    title.program = argv[0];
    title.start = argv[0];
    title.size = static_cast<size_t>(argv[argc - 1] + strlen(argv[argc - 1]) - argv[0]);
  }
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, nullptr);
  UniqueFd exits(signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!exits.Valid()) return 1;
  const pid_t self = getpid();
  const pid_t node = getppid();
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) return 1;
  UniqueFd handover(pair[0]);  // ours: each spare's pid and its call's reply socket
  UniqueFd spareEnd(pair[1]);  // the spares'
  fcntl(handover.Get(), F_SETFL, O_NONBLOCK);
  pid_t spare = -1;                 // the process waiting for the next request, if any
  std::map<pid_t, UniqueFd> calls;  // each running call's reply socket
  std::string data;
  for (;;) {
    // Without a spare (the fork failed) the server reads requests itself and turns them down.
    if (spare < 0) spare = ForkSpare(spareEnd.Get(), title, self);
    struct pollfd fds[3] = {
        {kControlFd, static_cast<short>(spare > 0 ? 0 : POLLIN), 0}, {exits.Get(), POLLIN, 0}, {handover.Get(), POLLIN, 0}};
    // The timeout only notices a Node that died while a copy of the control socket lives on
    // in a process it forked without exec.
    int ready = poll(fds, 3, 1000);
    if (getppid() != node) break;
    if (ready < 0) {
      if (errno == EINTR) continue;
      break;
    }
    // Before any exit is reaped: a call's reply socket arrives before the call can end.
    if (fds[2].revents != 0) TakeHandovers(handover.Get(), spare, calls);
    if (fds[1].revents != 0) {
      struct signalfd_siginfo info;
      while (read(exits.Get(), &info, sizeof info) > 0) {}
      int status = 0;
      pid_t pid;
      while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        if (pid == spare) {
          // It may have taken a request since poll returned, and ended: its handover is
          // queued (it sends it before anything of the call, and ends if it cannot), so take
          // it now, or this exit goes unreported and the handover is refused next turn.
          TakeHandovers(handover.Get(), spare, calls);
          if (pid == spare) spare = -1;  // it ended without a request
        }
        auto it = calls.find(pid);
        if (it == calls.end()) continue;
        Report(it->second.Get(), LifecycleReport::kExited, status);
        calls.erase(it);
      }
    }
    if ((fds[0].revents & POLLIN) != 0) {
      // No spare: closing the request's reply socket tells the addon to run the call the old way.
      std::vector<UniqueFd> received;
      if (ReceiveDatagram(kControlFd, data, kMaxLifecycleRequest, received) == 0) break;  // the addon closed it
    } else if ((fds[0].revents & (POLLHUP | POLLERR | POLLNVAL)) != 0) {
      break;  // the addon closed it: its environment, or Node, is gone
    }
  }
  // Our calls' processes get SIGTERM (their parent-death signal) and decide by their phase.
  return 0;
}

}  // namespace lxcts
