#include "spawn_helper.h"

#include <signal.h>

extern char** environ;

namespace lxcts {

int SpawnInOwnSession(const char* path, char* const argv[], const posix_spawn_file_actions_t* actions, pid_t* pid) {
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  int error = posix_spawn(pid, path, actions, &attr, argv, environ);
  posix_spawnattr_destroy(&attr);
  return error;
}

}  // namespace lxcts
