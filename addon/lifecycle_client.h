// The addon's side of lxcts-lifecycle (lifecycle_helper.cc): create, start, destroy and
// clone run in that small helper process, one per call, instead of in Node.
#pragma once

#include <lxc/lxccontainer.h>

#include <string>
#include <vector>

#include "task.h"

namespace lxcts {

struct LifecycleCall {
  std::string op;                 // start, create, destroy, clone
  std::vector<std::string> args;  // NAME LXCPATH and the op's own, as lifecycle_helper.cc lists them
  // Whose in-memory config the helper uses (saved into a memfd for it); null: none.
  lxc_container* config = nullptr;
  bool inheritOutput = false;  // the helper's stdout/stderr are Node's (a template's output)
  std::string failureCode;     // when the helper dies without answering
  std::string subject;         // for messages
};

// Spawns the helper, waits for it (blocking: call off the main thread) and turns its answer
// into `out`. The calling thread must outlive the helper, which it does by waiting:
// the helper's parent-death signal follows the thread that spawned it.
void RunLifecycle(const LifecycleCall& call, Outcome& out);

}  // namespace lxcts
