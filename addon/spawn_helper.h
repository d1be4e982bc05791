#pragma once
// Starting lxcts's helper programs (lxcts-attach, lxcts-lifecycle) from Node's process.

#include <spawn.h>
#include <sys/types.h>

namespace lxcts {

// Spawns `path` with `argv` and the caller's file actions, in a session (and process group)
// of its own, so a terminal's Ctrl-C reaches Node and not the helper, and with every signal
// unblocked and at its default: libuv's threads block signals and Node ignores SIGPIPE,
// which the child would otherwise inherit. Returns 0 and sets `pid`, or an errno value.
int SpawnInOwnSession(const char* path, char* const argv[], const posix_spawn_file_actions_t* actions, pid_t* pid);

}  // namespace lxcts
