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
#include "lifecycle_server.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

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

}  // namespace

int ServeLifecycle(int argc, char** argv) {
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
  std::map<pid_t, UniqueFd> calls;  // each running call's reply socket
  std::string data;
  for (;;) {
    struct pollfd fds[2] = {{kControlFd, POLLIN, 0}, {exits.Get(), POLLIN, 0}};
    // The timeout only notices a Node that died while a copy of the control socket lives on
    // in a process it forked without exec.
    int ready = poll(fds, 2, 1000);
    if (getppid() != node) break;
    if (ready < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[1].revents != 0) {
      struct signalfd_siginfo info;
      while (read(exits.Get(), &info, sizeof info) > 0) {}
      int status = 0;
      pid_t pid;
      while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        auto it = calls.find(pid);
        if (it == calls.end()) continue;
        Report(it->second.Get(), LifecycleReport::kExited, status);
        calls.erase(it);
      }
    }
    if ((fds[0].revents & POLLIN) != 0) {
      std::vector<UniqueFd> received;
      ssize_t n = ReceiveDatagram(kControlFd, data, kMaxLifecycleRequest, received);
      if (n == 0) break;  // the addon closed it: its environment, or Node, is gone
      Request request;
      // A request that cannot be read is answered by closing its reply socket: the addon then
      // runs the call the old way.
      if (n < 0 || received.empty() || !Decode(data, request)) continue;
      size_t wanted = 2 + (request.hasConfig ? 1 : 0) + (request.hasOutput ? 2 : 0);
      if (received.size() != wanted) continue;
      pid_t pid = fork();
      if (pid == 0) RunForked(request, received, title, self);
      if (pid < 0) continue;
      Report(received[0].Get(), LifecycleReport::kForked, pid);
      calls.emplace(pid, std::move(received[0]));
    } else if ((fds[0].revents & (POLLHUP | POLLERR | POLLNVAL)) != 0) {
      break;
    }
  }
  // Our calls' processes get SIGTERM (their parent-death signal) and decide by their phase.
  return 0;
}

}  // namespace lxcts
