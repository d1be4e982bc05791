// The pidfd of a command this process just started, for the addon's in-process exec and
// for the lxcts-attach helper. No Node code.
#pragma once

#include <signal.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "fds.h"

namespace lxcts {

// Opened while `pid` is our unreaped child, so the pidfd cannot name a recycled pid. Without
// one the command could be neither watched nor signalled safely: it is killed and reaped,
// an invalid fd comes back and `error` says why.
inline UniqueFd ChildPidfdOrKill(pid_t pid, std::string& error) {
  UniqueFd pidfd(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
  if (pidfd.Valid()) return pidfd;
  error = std::string("pidfd_open failed: ") + strerror(errno);
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  return pidfd;
}

}  // namespace lxcts
