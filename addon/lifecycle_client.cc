#include "lifecycle_client.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>

#include "addon_data.h"
#include "config_item.h"
#include "fds.h"
#include "lifecycle_wire.h"
#include "spawn_helper.h"

extern char** environ;

namespace lxcts {
namespace {

constexpr size_t kMaxAnswer = 1 << 20;

// lxcts-lifecycle is built beside the addon (binding.gyp), wherever the addon was loaded from.
std::string HelperPath() {
  Dl_info info;
  if (dladdr(reinterpret_cast<void*>(&HelperPath), &info) == 0 || info.dli_fname == nullptr) return "";
  std::string self = info.dli_fname;
  return self.substr(0, self.rfind('/') + 1) + "lxcts-lifecycle";
}

// A memfd above the descriptors the helper gets (0-4), so that dup2 onto its number clears
// close-on-exec instead of being a no-op.
UniqueFd Memfd(const char* name) {
  UniqueFd fd(memfd_create(name, MFD_CLOEXEC));
  if (!fd.Valid() || fd.Get() > 4) return fd;
  return UniqueFd(fcntl(fd.Get(), F_DUPFD_CLOEXEC, 5));
}

std::string ReadAll(int fd) {
  std::string text;
  char buffer[8192];
  off_t offset = 0;
  ssize_t n;
  while (text.size() < kMaxAnswer && (n = pread(fd, buffer, sizeof buffer, offset)) > 0) {
    text.append(buffer, static_cast<size_t>(n));
    offset += n;
  }
  return text;
}

void Reject(Outcome& out, std::string code, std::string message, std::vector<std::string> details = {}) {
  // The helper's log lines are this call's; the handle's own log saw nothing of it.
  out.failure = Failure{std::move(code), std::move(message), std::move(details), false};
}

// The helper's arguments after its own name: NODE_PID OP NAME LXCPATH ARG...
std::vector<std::string> HelperArgs(const LifecycleCall& call) {
  std::vector<std::string> args = {std::to_string(getpid()), call.op};
  args.insert(args.end(), call.args.begin(), call.args.end());
  return args;
}

pid_t Spawn(const std::string& path, const LifecycleCall& call, int answer, int config, int& error) {
  std::vector<std::string> args = HelperArgs(call);
  args.insert(args.begin(), path);
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  if (!call.inheritOutput) {
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  }
  posix_spawn_file_actions_adddup2(&actions, answer, 3);
  if (config >= 0) {
    posix_spawn_file_actions_adddup2(&actions, config, 4);
  } else {
    posix_spawn_file_actions_addopen(&actions, 4, "/dev/null", O_RDONLY, 0);
  }
  // Its own process group also lets the helper kill the whole group (template, rsync) if
  // Node dies.
  pid_t pid = -1;
  error = SpawnInOwnSession(path.c_str(), argv.data(), &actions, &pid);
  posix_spawn_file_actions_destroy(&actions);
  return error == 0 ? pid : -1;
}

std::string EncodeRequest(const LifecycleCall& call, bool hasConfig) {
  std::vector<std::string> args = HelperArgs(call);
  size_t envc = 0;
  while (environ[envc] != nullptr) envc++;
  LifecycleRequestHead head{static_cast<uint32_t>(args.size()), static_cast<uint32_t>(envc), hasConfig ? uint8_t{1} : uint8_t{0},
                            call.inheritOutput ? uint8_t{1} : uint8_t{0}};
  std::string data(reinterpret_cast<const char*>(&head), sizeof head);
  char cwd[PATH_MAX];
  data.append(getcwd(cwd, sizeof cwd) != nullptr ? cwd : "");
  data.push_back('\0');
  for (const std::string& a : args) {
    // An argument with a NUL cannot be told apart on the wire; the spawn path refuses it too.
    data.append(a.c_str());
    data.push_back('\0');
  }
  for (size_t i = 0; i < envc; i++) {
    data.append(environ[i]);
    data.push_back('\0');
  }
  return data;
}

// What the server said of a call: its pid, and its wait status once it ended; or that the
// call's process has written its answer (it only exits after that).
struct ServedCall {
  bool forked = false;
  pid_t pid = -1;
  bool exited = false;
  int status = 0;
  bool answered = false;
};

ServedCall Await(int reply) {
  ServedCall served;
  LifecycleReport report;
  for (;;) {
    ssize_t n = recv(reply, &report, sizeof report, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n != static_cast<ssize_t>(sizeof report)) return served;  // the server ended
    if (report.kind == LifecycleReport::kForked) {
      served.forked = true;
      served.pid = report.value;
    } else if (report.kind == LifecycleReport::kExited) {
      served.exited = true;
      served.status = report.value;
      return served;
    } else if (report.kind == LifecycleReport::kAnswered) {
      served.answered = true;
      return served;
    }
  }
}

// The value of a read: addresses or interface names, one a line (the kernel allows no
// whitespace in an interface name; a container's root may put any other byte in one, as
// liblxc's get_interfaces returned it before). Bounded: anything longer is not what the
// helper says, and is refused rather than handed to JavaScript.
void TakeLines(const LifecycleCall& call, std::vector<std::string> lines, Outcome& out) {
  constexpr size_t kMaxLines = 4096, kMaxLine = 256;
  if (lines.size() > kMaxLines) return Reject(out, "LXC_INTERNAL", "unreadable answer from lxcts-lifecycle for " + call.subject);
  for (const std::string& line : lines) {
    if (line.empty() || line.size() > kMaxLine)
      return Reject(out, "LXC_INTERNAL", "unreadable answer from lxcts-lifecycle for " + call.subject);
  }
  out.value = std::move(lines);
}

}  // namespace

LifecycleServer::~LifecycleServer() {
  std::lock_guard<std::mutex> lock(mutex_);
  StopLocked();
}

pid_t LifecycleServer::Pid() {
  std::lock_guard<std::mutex> lock(mutex_);
  return pid_;
}

void LifecycleServer::StopLocked() {
  control_.Reset();  // the server reads end-of-file and exits
  if (pid_ > 0) {
    // No call runs through it any more (each holds this object): it exits at once.
    pid_t r;
    do r = waitpid(pid_, nullptr, 0);
    while (r < 0 && errno == EINTR);
    pid_ = -1;
  }
}

bool LifecycleServer::SpawnLocked() {
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) return false;
  UniqueFd ours(pair[0]);
  UniqueFd theirs(pair[1]);
  // dup2 onto the same number would leave close-on-exec set.
  if (theirs.Get() == 3) theirs = UniqueFd(fcntl(theirs.Get(), F_DUPFD_CLOEXEC, 4));
  if (!theirs.Valid()) return false;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  // Not Node's stdio: a pipe to whoever runs Node must not stay open in the server. A call
  // that shows a template's output gets Node's stdout and stderr with its request.
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, theirs.Get(), 3);
  // The room each call's process writes its own command line into (lifecycle_server.cc).
  std::string path = path_, serve = "--serve", room(4096, ' ');
  char* argv[] = {path.data(), serve.data(), room.data(), nullptr};
  pid_t pid = -1;
  int rc = SpawnInOwnSession(path_.c_str(), argv, &actions, &pid);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return false;
  pid_ = pid;
  control_ = std::move(ours);
  return true;
}

UniqueFd LifecycleServer::Send(const std::string& request, const int* fds, size_t count) {
  if (request.size() > kMaxLifecycleRequest || count + 1 > kMaxLifecycleFds) return UniqueFd();
  std::lock_guard<std::mutex> lock(mutex_);
  for (int attempt = 0; attempt < 2 && !unavailable_; attempt++) {
    if (!control_.Valid() && !SpawnLocked()) {
      unavailable_ = true;
      break;
    }
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) break;
    UniqueFd ours(pair[0]);
    UniqueFd theirs(pair[1]);
    std::vector<int> all = {theirs.Get()};
    all.insert(all.end(), fds, fds + count);
    if (SendDatagram(control_.Get(), request.data(), request.size(), all.data(), all.size())) return ours;
    if (errno != EPIPE && errno != ECONNRESET && errno != ENOTCONN) break;
    StopLocked();  // the server died: reap it and start another
  }
  return UniqueFd();
}

std::shared_ptr<LifecycleServer> LifecycleServerFor(Napi::Env env) {
  AddonData* data = GetAddonData(env);
  if (data == nullptr) return nullptr;
  if (!data->lifecycleServer) {
    std::string path = HelperPath();
    if (path.empty() || access(path.c_str(), X_OK) != 0) return nullptr;
    data->lifecycleServer = std::make_shared<LifecycleServer>(path);
  }
  return data->lifecycleServer;
}

void RunLifecycle(const LifecycleCall& call, Outcome& out) {
  std::string path = HelperPath();
  UniqueFd answer = Memfd("lxcts-answer");
  if (path.empty() || !answer.Valid()) {
    return Reject(out, "LXC_INTERNAL", "cannot prepare the lxcts-lifecycle helper: " + std::string(strerror(errno)));
  }
  UniqueFd config;
  if (call.config != nullptr) {
    config = Memfd("lxcts-config");
    std::string where = "/proc/self/fd/" + std::to_string(config.Get());
    if (!config.Valid() || !call.config->save_config(call.config, where.c_str())) {
      // liblxc says why in the handle's log: let the caller attach it.
      return out.Fail(call.failureCode, "cannot hand the config of " + call.subject + " to the lxcts-lifecycle helper");
    }
  }
  pid_t pid = -1;
  int status = 0;
  bool ended = false;  // whether `status` is known
  UniqueFd reply;
  if (call.server) {
    std::vector<int> fds = {answer.Get()};
    if (config.Valid()) fds.push_back(config.Get());
    if (call.inheritOutput) fds.insert(fds.end(), {STDOUT_FILENO, STDERR_FILENO});
    reply = call.server->Send(EncodeRequest(call, config.Valid()), fds.data(), fds.size());
  }
  ServedCall served;
  if (reply.Valid()) served = Await(reply.Get());
  if (served.forked) {
    pid = served.pid;
    ended = served.exited;
    status = served.status;
  } else {
    // No server, or it refused the request before forking: spawn the helper for this call.
    int error = 0;
    pid = Spawn(path, call, answer.Get(), config.Valid() ? config.Get() : -1, error);
    if (pid < 0) {
      return Reject(out, "LXC_INTERNAL", "cannot run " + path + ": " + strerror(error) + " (rebuild lxcts: npm run build:addon)");
    }
    pid_t r;
    do r = waitpid(pid, &status, 0);
    while (r < 0 && errno == EINTR);
    ended = true;
  }
  std::vector<std::string> lines = SplitLines(ReadAll(answer.Get()));
  if (lines.empty()) {
    // Killed (or crashed) before answering: whatever it started in its process group, a
    // template or rsync, must not go on alone. A monitor of a started container has a
    // session of its own and is not touched.
    kill(-pid, SIGKILL);
    std::string how = !ended                ? "ended with its server"
                      : WIFSIGNALED(status) ? "was killed by signal " + std::to_string(WTERMSIG(status))
                                            : "exited with status " + std::to_string(WEXITSTATUS(status));
    return Reject(out, call.failureCode, "the lxcts-lifecycle helper for " + call.subject + " " + how + " before it answered");
  }
  std::string first = lines.front();
  lines.erase(lines.begin());
  if (first == "ok") {
    if (call.answersLines) TakeLines(call, std::move(lines), out);
    return;
  }
  // "refuse CODE MESSAGE" or "fail CODE MESSAGE"
  size_t a = first.find(' ');
  size_t b = a == std::string::npos ? std::string::npos : first.find(' ', a + 1);
  if (b == std::string::npos) return Reject(out, "LXC_INTERNAL", "unreadable answer from lxcts-lifecycle: " + first);
  std::string kind = first.substr(0, a), code = first.substr(a + 1, b - a - 1), message = first.substr(b + 1);
  Reject(out, code, message, kind == "fail" ? lines : std::vector<std::string>{});
}

}  // namespace lxcts
