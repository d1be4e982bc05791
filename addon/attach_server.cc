// lxcts-attach: starts commands inside containers for the addon (attach_client.cc), so that
// liblxc forks this small process instead of Node.
//
// liblxc's attach forks the caller twice per command. From Node that copies and tears down
// a ~50 MB address space each time, which costs more than the attach itself (perf: 3.0 ms
// of CPU per exec from Node against 1.7 ms from a small C program). This helper is that
// small program. It runs as long as the addon keeps its end of the control socket (fd 3)
// open, and exits at end-of-file.
//
// Threads: workers receive requests from the control socket, each one attaching one
// command at a time with a liblxc handle nobody else is using. There is one worker at
// first and another whenever all are busy, up to kMaxWorkers: every thread makes each fork
// a little dearer, so there are only as many as the load needs. One more thread reaps the
// commands (they are this process's children) and reports their exit statuses. Being
// multi-threaded also avoids a liblxc 5.0.2 leak of one pidfd per attach, which only
// single-threaded callers hit (see README, "liblxc findings").
#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <lxc/lxccontainer.h>

#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "attach_command.h"
#include "attach_wire.h"
#include "child_pidfd.h"
#include "container_state.h"
#include "fds.h"

namespace lxcts {
namespace {

constexpr int kControlFd = 3;
constexpr int kMaxWorkers = 8;

// liblxc handles by container, reused while the container's config file is unchanged
// (what a long-lived handle in the addon would see too, but without going stale when the
// container is recreated). A handle is used by one thread at a time.
class HandleCache {
 public:
  lxc_container* Take(const std::string& name, const std::string& lxcpath) {
    std::string key = lxcpath + '\0' + name;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto found = entries_.find(key);
      if (found != entries_.end()) {
        Entry& entry = found->second;
        if (!Unchanged(entry)) {
          for (lxc_container* c : entry.idle) lxc_container_put(c);
          entries_.erase(found);
        } else if (!entry.idle.empty()) {
          lxc_container* c = entry.idle.back();
          entry.idle.pop_back();
          return c;
        }
      }
    }
    std::lock_guard<std::mutex> lock(create_);  // liblxc's config parser is not known to be thread-safe
    return lxc_container_new(name.c_str(), lxcpath.empty() ? nullptr : lxcpath.c_str());
  }

  void Give(const std::string& name, const std::string& lxcpath, lxc_container* c) {
    std::string key = lxcpath + '\0' + name;
    std::lock_guard<std::mutex> lock(mutex_);
    auto found = entries_.find(key);
    if (found == entries_.end()) {
      Entry entry;
      char* config = c->config_file_name(c);
      if (config != nullptr) entry.config = config;
      free(config);
      if (!Stat(entry.config, entry.stamp)) return Drop(c);
      if (entries_.size() >= kMaxContainers) Clear();
      found = entries_.emplace(key, std::move(entry)).first;
    }
    if (found->second.idle.size() >= kMaxWorkers) return Drop(c);
    found->second.idle.push_back(c);
  }

 private:
  static constexpr size_t kMaxContainers = 64;

  struct Stamp {
    ino_t ino;
    off_t size;
    struct timespec mtime;
  };
  struct Entry {
    std::string config;
    Stamp stamp;
    std::vector<lxc_container*> idle;
  };

  static bool Stat(const std::string& path, Stamp& stamp) {
    struct stat st;
    if (path.empty() || stat(path.c_str(), &st) != 0) return false;
    stamp = {st.st_ino, st.st_size, st.st_mtim};
    return true;
  }
  static bool Unchanged(const Entry& entry) {
    Stamp now;
    return Stat(entry.config, now) && now.ino == entry.stamp.ino && now.size == entry.stamp.size &&
           now.mtime.tv_sec == entry.stamp.mtime.tv_sec && now.mtime.tv_nsec == entry.stamp.mtime.tv_nsec;
  }
  static void Drop(lxc_container* c) { lxc_container_put(c); }
  void Clear() {
    for (auto& [key, entry] : entries_) {
      for (lxc_container* c : entry.idle) lxc_container_put(c);
    }
    entries_.clear();
  }

  std::mutex mutex_;
  std::mutex create_;
  std::map<std::string, Entry> entries_;
};

// Waits for every started command and writes its ExitReport to its reply socket.
class Reaper {
 public:
  Reaper() : epoll_(epoll_create1(EPOLL_CLOEXEC)) {}

  bool Ready() const { return epoll_.Valid(); }

  // Takes the command's pidfd and reply socket; reports on the socket once it exits.
  void Watch(pid_t pid, UniqueFd pidfd, UniqueFd reply) {
    auto* watch = new Watched{pid, std::move(pidfd), std::move(reply)};
    struct epoll_event event = {};
    event.events = EPOLLIN | EPOLLONESHOT;
    event.data.ptr = watch;
    if (epoll_ctl(epoll_.Get(), EPOLL_CTL_ADD, watch->pidfd.Get(), &event) != 0) Report(watch, 0);
  }

  void Run() {
    struct epoll_event events[16];
    for (;;) {
      int n = epoll_wait(epoll_.Get(), events, 16, -1);
      for (int i = 0; i < n; i++) Report(static_cast<Watched*>(events[i].data.ptr), WNOHANG);
    }
  }

 private:
  struct Watched {
    pid_t pid;
    UniqueFd pidfd;
    UniqueFd reply;
  };

  // The pid is our unreaped child, so it cannot have been recycled.
  static void Report(Watched* watch, int flags) {
    siginfo_t info = {};
    int rc;
    do rc = waitid(P_PID, static_cast<id_t>(watch->pid), &info, WEXITED | flags);
    while (rc < 0 && errno == EINTR);
    ExitReport report = {-1, 0};
    if (rc == 0 && info.si_code == CLD_EXITED) {
      report.exitCode = info.si_status;
    } else if (rc == 0 && (info.si_code == CLD_KILLED || info.si_code == CLD_DUMPED)) {
      report.signal = info.si_status;
    }
    // A closed reply socket means the addon no longer cares: nothing to do about it.
    SendWithFds(watch->reply.Get(), &report, sizeof report, nullptr, 0);
    delete watch;
  }

  UniqueFd epoll_;
};

// How many workers there are and how many wait for a request.
struct Workers {
  std::mutex mutex;
  std::condition_variable changed;
  int total = 0;
  int idle = 0;
};

struct Server {
  HandleCache& handles;
  Reaper& reaper;
  Workers& workers;
};

// Starts the command with the given stdio ends, or on a terminal the helper opens itself
// (returned in `master`): only here is the container at hand to open it in.
AttachReply Attach(Server& server, const std::string& name, const std::string& lxcpath, AttachRequest& request, std::vector<UniqueFd>& fds,
                   UniqueFd& pidfd, UniqueFd& master) {
  std::string subject = "container \"" + name + "\"";
  lxc_container* c = server.handles.Take(name, lxcpath);
  if (c == nullptr) return MakeReply(0, "LXC_OPEN_FAILED", "cannot open " + subject);
  AttachStdio terminal;
  std::string error;
  pid_t pid = -1;
  if (!request.tty) {
    pid = AttachCommand(c, request, fds[1].Get(), fds[2].Get(), fds[3].Get());
  } else if (OpenAttachStdio(c, request, terminal, error)) {
    pid = AttachCommand(c, request, terminal.childIn.Get(), terminal.ChildOut(), terminal.ChildErr());
    terminal.CloseChildEnds();
  }
  AttachReply reply;
  if (pid < 0) {
    // Not checked first, as in the addon: a failed attach is explained afterwards.
    std::string code, message;
    if (NotRunning(c, subject, code, message)) {
      reply = MakeReply(0, code, message);
    } else {
      reply = MakeReply(0, "LXC_EXEC_FAILED", error.empty() ? "cannot attach to " + subject : error);
    }
  } else {
    std::string why;
    pidfd = ChildPidfdOrKill(pid, why);
    if (pidfd.Valid()) {
      reply = MakeReply(pid, "", "");
      master = std::move(terminal.parentOut);
    } else {
      reply = MakeReply(0, "LXC_EXEC_FAILED", why);
    }
  }
  server.handles.Give(name, lxcpath, c);
  return reply;
}

void ServeOne(Server& server, const std::string& data, std::vector<UniqueFd>& fds) {
  if (fds.empty()) return;  // no reply socket: nobody to answer
  std::string name, lxcpath;
  AttachRequest request;
  UniqueFd pidfd, master;
  AttachReply answer;
  if (!DecodeRequest(data, name, lxcpath, request) || fds.size() != RequestFdsFor(request)) {
    answer = MakeReply(0, "LXC_EXEC_FAILED", "lxcts-attach received a malformed request (is the helper from another build?)");
  } else {
    answer = Attach(server, name, lxcpath, request, fds, pidfd, master);
  }
  UniqueFd reply = std::move(fds[0]);
  fds.clear();  // the command has its copies of stdin, stdout and stderr
  int sent[2] = {pidfd.Get(), master.Get()};
  size_t count = answer.pid <= 0 ? 0 : master.Valid() ? 2 : 1;
  SendWithFds(reply.Get(), &answer, sizeof answer, sent, count);
  master.Reset();  // the addon has the terminal now; the command keeps it open
  if (answer.pid > 0) server.reaper.Watch(answer.pid, std::move(pidfd), std::move(reply));
}

void ServeRequests(Server& server);

// Called by a worker that has just taken a request: if it was the last idle one, another
// starts, so that the next request does not wait behind this one.
void TookRequest(Server& server) {
  std::lock_guard<std::mutex> lock(server.workers.mutex);
  server.workers.idle--;
  if (server.workers.idle > 0 || server.workers.total >= kMaxWorkers) return;
  server.workers.total++;
  server.workers.idle++;
  std::thread(ServeRequests, std::ref(server)).detach();
}

void ServeRequests(Server& server) {
  std::string data;
  for (;;) {
    std::vector<UniqueFd> fds;
    ssize_t n = ReceiveWithFds(kControlFd, data, sizeof(RequestHeader) + kMaxRequestBytes, fds);
    if (n == 0 || (n < 0 && errno != EMSGSIZE)) break;  // the addon closed its end
    if (n < 0) data.clear();                            // answered as malformed
    TookRequest(server);
    ServeOne(server, data, fds);
    std::lock_guard<std::mutex> lock(server.workers.mutex);
    server.workers.idle++;
  }
  std::lock_guard<std::mutex> lock(server.workers.mutex);
  server.workers.total--;
  server.workers.idle--;
  server.workers.changed.notify_all();
}

}  // namespace
}  // namespace lxcts

int main() {
  using namespace lxcts;
  // Replies to an addon that has gone must not kill the helper.
  signal(SIGPIPE, SIG_IGN);
  auto* handles = new HandleCache();
  auto* reaper = new Reaper();
  auto* workers = new Workers();
  if (!reaper->Ready()) return 1;
  auto* server = new Server{*handles, *reaper, *workers};
  std::thread(&Reaper::Run, reaper).detach();
  std::unique_lock<std::mutex> lock(workers->mutex);
  workers->total = workers->idle = 1;
  std::thread(ServeRequests, std::ref(*server)).detach();
  // Once the addon has closed its end, every worker finishes what it is doing and leaves.
  workers->changed.wait(lock, [workers] { return workers->total == 0; });
  // Commands still running are left to run, as they would be if Node had attached them
  // and exited; whoever started them has gone.
  _exit(0);
}
