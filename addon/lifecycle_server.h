// lxcts-lifecycle --serve: the resident form of the lifecycle helper (lifecycle_server.cc).
#pragma once

#include <sys/types.h>

namespace lxcts {

// One lifecycle call, as the one-shot helper runs it (lifecycle_helper.cc): argv is
// "lxcts-lifecycle PARENT_PID OP NAME LXCPATH ARG...", and `parent` the process whose
// death ends the call (see OnParentDeath there). Returns the exit status. With `answered`
// a socket, tells it (LifecycleReport kAnswered) once the answer is written.
int RunLifecycleCall(int argc, char** argv, pid_t parent, int answered = -1);

// Serves requests (lifecycle_wire.h) on the control socket at fd 3 until the addon closes
// it or its process dies: forks one process per request, which runs RunLifecycleCall().
// argv is the server's own, whose memory each call's process reuses for its command line.
int ServeLifecycle(int argc, char** argv);

}  // namespace lxcts
