// A program of the host run inside a container (lxcts-files), from a copy nothing can change.
#pragma once

#include <string>

#include "fds.h"

namespace lxcts {

// A sealed memfd holding the file at `path` (close-on-exec; fexecve() runs it). A process in
// the container can reach its program through /proc/PID/exe, and a privileged container's
// root could write through that to the host's file (as in runc's CVE-2019-5736); the sealed
// copy cannot be written at all. Invalid, with `error` set, when the copy failed.
UniqueFd SealedProgram(const std::string& path, std::string& error);

}  // namespace lxcts
