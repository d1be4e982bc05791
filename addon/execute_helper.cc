// lxcts-execute: runs one command as the init of an application container, the way
// lxc-execute does, for Container.execute().
//
// A separate, single-threaded process on purpose: liblxc only runs a container in the
// foreground (which an application container needs, to hand it our stdio and wait for
// it) in a process without other threads, and Node always has some.
//
//   lxcts-execute NAME LXCPATH [KEY=VALUE ...] -- COMMAND [ARG ...]
//
// LXCPATH may be empty for liblxc's default. KEY=VALUE pairs are config items applied in
// order (an empty value clears the key). The command gets this process's stdin, stdout and
// stderr. fd 3 receives one status line: "exit N", "signal N" or "error KIND MESSAGE". liblxc's
// error log goes to fd 4. The exit code of this process is not the command's: read fd 3.
#include <fcntl.h>
#include <lxc/lxccontainer.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "config_item.h"

namespace {

constexpr int kStatusFd = 3;
constexpr int kLogFd = 4;

int Report(const std::string& line) {
  std::string text = line + "\n";
  if (write(kStatusFd, text.data(), text.size()) < 0) return 2;
  return 0;
}

// liblxc's lxc_log_init needs a path, and fd 4 is a socket when Node made it (which
// /proc/self/fd/4 cannot reopen): log to an unlinked temporary file, copied to fd 4 at the end.
int StartLog(const char* name, const char* lxcpath) {
  char path[] = "/tmp/lxcts-execute-XXXXXX";
  int fd = mkostemp(path, O_CLOEXEC);
  if (fd < 0) return -1;
  struct lxc_log log = {};
  log.name = name;
  log.lxcpath = lxcpath;
  log.file = path;
  log.level = "ERROR";
  log.prefix = "lxcts-execute";
  log.quiet = true;
  lxc_log_init(&log);
  unlink(path);
  return fd;
}

void CopyLog(int from) {
  if (from < 0) return;
  char buffer[8192];
  ssize_t n;
  lseek(from, 0, SEEK_SET);
  while ((n = read(from, buffer, sizeof buffer)) > 0) {
    if (write(kLogFd, buffer, static_cast<size_t>(n)) < 0) break;
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 5) return Report("error usage lxcts-execute NAME LXCPATH [KEY=VALUE ...] -- COMMAND [ARG ...]");
  // Our status and log pipes must not reach the command.
  for (int fd : {kStatusFd, kLogFd}) fcntl(fd, F_SETFD, FD_CLOEXEC);

  const char* name = argv[1];
  const char* lxcpath = argv[2][0] != '\0' ? argv[2] : nullptr;
  int logFile = StartLog(name, lxcpath != nullptr ? lxcpath : "");

  int i = 3;
  std::vector<std::pair<std::string, std::string>> items;
  for (; i < argc && std::strcmp(argv[i], "--") != 0; i++) {
    const char* eq = std::strchr(argv[i], '=');
    if (eq == nullptr) return Report(std::string("error usage config item without '=': ") + argv[i]);
    items.emplace_back(std::string(argv[i], eq - argv[i]), std::string(eq + 1));
  }
  if (i + 1 >= argc) return Report("error usage no command given after --");
  std::vector<char*> command(argv + i + 1, argv + argc);
  command.push_back(nullptr);

  lxc_container* c = lxc_container_new(name, lxcpath);
  if (c == nullptr) return Report("error open cannot load the container's configuration");
  if (!c->is_defined(c)) {
    // No container: an application container over the host's root filesystem, configured
    // from liblxc's defaults and the caller's items (lxc-execute -f default.conf).
    lxcts::LoadDefaultConfig(c);
    // No console to set up for a command that uses our stdio, and a host rootfs needs
    // /proc mounted by liblxc (it otherwise logs a failed transient procfs mount).
    c->set_config_item(c, "lxc.console.path", "none");
    c->set_config_item(c, "lxc.mount.auto", "proc:mixed sys:ro");
  }
  for (const auto& [key, value] : items) {
    bool ok = value.empty() ? c->clear_config_item(c, key.c_str()) : c->set_config_item(c, key.c_str(), value.c_str());
    if (!ok) {
      lxc_container_put(c);
      CopyLog(logFile);
      return Report("error config " + key + "=" + value);
    }
  }
  if (c->is_running(c)) {
    lxc_container_put(c);
    return Report("error running the container is already running");
  }

  c->want_daemonize(c, false);
  // useinit: init.lxc runs as PID 1, starts the command, reaps orphans and passes the
  // command's status back.
  bool started = c->start(c, 1, command.data());
  int status = c->error_num;
  lxc_container_put(c);
  if (!started) {
    CopyLog(logFile);
    return Report("error start the container failed to start");
  }
  // error_num is init.lxc's wait status. init.lxc itself exits 128+N when the command is
  // killed by signal N (as a shell does); a signal here means init.lxc itself was killed.
  if (WIFSIGNALED(status)) return Report("signal " + std::to_string(WTERMSIG(status)));
  return Report("exit " + std::to_string(WEXITSTATUS(status)));
}
