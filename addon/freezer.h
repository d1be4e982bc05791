// freeze() and unfreeze(): one at a time per container in this process.
//
// liblxc (5.0 on cgroup v1) writes FROZEN or THAWED to the container's freezer and then
// reads it back once a second until it sees what it wrote. Two calls at once on one
// container (two Container objects, or the main thread and a worker) overwrite each
// other's value, and one of them loops for good, pinning a libuv pool thread: every call
// queued behind it waits, release() never resolves and the process cannot exit. Holding a
// lock per container across the liblxc call makes them take turns.
#pragma once

#include <lxc/lxccontainer.h>

#include <string>

#include "task.h"

namespace lxcts {

// How long a call waits for another freeze/unfreeze of the same container to finish
// before it gives up with LXC_TIMEOUT. liblxc's own call takes a second or two.
constexpr int kFreezerLockSeconds = 60;

// Freezes (or thaws) `c`, which must be running. Fails with LXC_FREEZE_FAILED or
// LXC_UNFREEZE_FAILED when liblxc does, with LXC_TIMEOUT when the lock is not had in time.
void FreezeOrThaw(lxc_container* c, const std::string& subject, bool freeze, Outcome& out);

}  // namespace lxcts
