// freeze() and unfreeze(): one at a time per container in this process, and never longer
// than the caller's timeout.
//
// liblxc (5.0 on cgroup v1) writes FROZEN or THAWED to the container's freezer and then
// reads it back once a second until it sees what it wrote, for as long as that takes. Two
// calls at once on one container (two Container objects, or the main thread and a worker)
// overwrite each other's value, and one of them loops for good, pinning a libuv pool
// thread: every call queued behind it waits, release() never resolves and the process
// cannot exit. So:
// - a lock per container, held across the liblxc call, makes this process's calls take
//   turns (the race cannot happen between them);
// - the liblxc call runs on a thread of its own with a liblxc handle of its own, and the
//   caller waits for it at most `timeoutSeconds`: when another process keeps changing the
//   freezer (lxc-unfreeze from a shell), the call ends with LXC_TIMEOUT, and liblxc's loop
//   goes on in the background (one read a second) until the freezer reads its value.
#pragma once

#include <lxc/lxccontainer.h>

#include <string>

#include "task.h"

namespace lxcts {

// Freezes (or thaws) `c`, which must be running; a negative timeout waits for good. Fails
// with LXC_FREEZE_FAILED or LXC_UNFREEZE_FAILED when liblxc does, and with LXC_TIMEOUT
// when the call (including the wait for this process's other freeze/unfreeze of the same
// container) did not finish in time.
void FreezeOrThaw(lxc_container* c, const std::string& subject, bool freeze, int timeoutSeconds, Outcome& out);

}  // namespace lxcts
