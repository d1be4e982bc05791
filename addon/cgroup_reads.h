// Reads of a running container's cgroup files straight from the kernel, on the calling
// thread: no thread-pool trip and no round trip to the container's monitor per read.
#pragma once

#include <napi.h>

namespace lxcts {

// (pidfd, paths[]) → Array<string | null> | null. null when the init behind `pidfd` has
// exited, checked before and after the reads: a stopped container's cgroup may already be
// gone or made again by the next start, and nothing read then may be taken for its value.
// An entry is null when that file cannot be read. Every read is in-kernel and bounded (a
// cgroup file, never a socket or a FUSE file: the caller passes only paths it found under
// the host's cgroup mounts), so it may run on the event loop.
Napi::Value ReadCgroupFiles(const Napi::CallbackInfo& info);

}  // namespace lxcts
