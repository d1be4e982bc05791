// The host's side of the exec fast path (src/lxc/resident-exec.ts): talks to lxcts-resident
// (resident_program.cc) in a running container, over the wire of resident_wire.h.
#pragma once

#include <napi.h>

namespace lxcts {

// residentConnect(pidfd, fd, pid) → { fd, depth }: takes the resident's end of its socketpair
// (its descriptor number `fd`, which it wrote on stdout) with pidfd_getfd(), checks that it is
// a unix seqpacket socket, and greets it (pidfd -1: opened here from `pid`). `depth` is how many pid namespaces the resident (pid
// `pid` here) is in, which its commands' pidfds must match. Throws when any of it fails.
Napi::Value ResidentConnect(const Napi::CallbackInfo& info);

// residentExec(fd, depth, name, argv, options) → Promise<NativeAttached> | null | "gone":
// starts a command through the resident, with pipes as attachRemote() makes them. null when
// the request is one the resident does not take (a terminal, a kept environment, attach
// options, a host program, too large: attach it the normal way); "gone" when the resident
// had ended before the request could be sent. Rejects with LXC_EXEC_FAILED.
Napi::Value ResidentExec(const Napi::CallbackInfo& info);

}  // namespace lxcts
