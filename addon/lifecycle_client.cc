#include "lifecycle_client.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "config_item.h"
#include "fds.h"
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

pid_t Spawn(const std::string& path, const LifecycleCall& call, int answer, int config, int& error) {
  std::vector<std::string> args = {path, std::to_string(getpid()), call.op};
  args.insert(args.end(), call.args.begin(), call.args.end());
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

}  // namespace

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
  int error = 0;
  pid_t pid = Spawn(path, call, answer.Get(), config.Valid() ? config.Get() : -1, error);
  if (pid < 0) {
    return Reject(out, "LXC_INTERNAL", "cannot run " + path + ": " + strerror(error) + " (rebuild lxcts: npm run build:addon)");
  }
  int status = 0;
  pid_t r;
  do r = waitpid(pid, &status, 0);
  while (r < 0 && errno == EINTR);
  std::vector<std::string> lines = SplitLines(ReadAll(answer.Get()));
  if (lines.empty()) {
    // Killed (or crashed) before answering: whatever it started in its process group, a
    // template or rsync, must not go on alone. A monitor of a started container has a
    // session of its own and is not touched.
    kill(-pid, SIGKILL);
    std::string how = WIFSIGNALED(status) ? "was killed by signal " + std::to_string(WTERMSIG(status))
                                          : "exited with status " + std::to_string(WEXITSTATUS(status));
    return Reject(out, call.failureCode, "the lxcts-lifecycle helper for " + call.subject + " " + how + " before it answered");
  }
  std::string first = lines.front();
  lines.erase(lines.begin());
  if (first == "ok") return;
  // "refuse CODE MESSAGE" or "fail CODE MESSAGE"
  size_t a = first.find(' ');
  size_t b = a == std::string::npos ? std::string::npos : first.find(' ', a + 1);
  if (b == std::string::npos) return Reject(out, "LXC_INTERNAL", "unreadable answer from lxcts-lifecycle: " + first);
  std::string kind = first.substr(0, a), code = first.substr(a + 1, b - a - 1), message = first.substr(b + 1);
  Reject(out, code, message, kind == "fail" ? lines : std::vector<std::string>{});
}

}  // namespace lxcts
