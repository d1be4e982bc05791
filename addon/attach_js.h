// The JavaScript ends of both exec paths, the lxcts-attach client (attach_client.cc) and the
// in-process fallback (attach_in_process.cc): reading the request, describing the started
// command.
#pragma once

#include <napi.h>
#include <sys/types.h>

#include "attach_command.h"
#include "task.h"
#include "teardown.h"

namespace lxcts {

// (argv, options) at info[first] and info[first + 1], as src/lxc/native.ts declares them.
AttachRequest ReadAttachRequest(const Napi::CallbackInfo& info, size_t first);

// { pid, pidfd, statusFd, stdin, stdout, stderr, tty }: takes the parent's ends from `stdio`.
// `statusFd` is -1 for a command this process reaps itself. The descriptors are recorded
// in `teardown` until a NativeProcess claims them (freed there if JavaScript ends first).
FlatRecord AttachedRecord(pid_t pid, int pidfd, int statusFd, AttachStdio& stdio, EnvTeardown& teardown);

}  // namespace lxcts
