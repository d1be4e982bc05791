// The attach options beyond argv, environment and stdio: which namespaces to enter, the
// personality, supplementary groups, a fresh /proc and /sys, elevated privileges. Shared by
// both exec paths (the lxcts-attach helper and the in-process fallback) and by the wire
// decoder, which must refuse what the TypeScript side would never send.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "attach_command.h"

namespace lxcts {

// The namespaces liblxc's attach can enter (CLONE_NEW* values, spelled out so that the wire
// test needs no kernel headers).
constexpr int32_t kAttachNamespaces = 0x00020000 /* mount */ | 0x04000000 /* uts */ | 0x08000000 /* ipc */ | 0x10000000 /* user */ |
                                      0x20000000 /* pid */ | 0x40000000 /* net */ | 0x02000000 /* cgroup */;
constexpr int64_t kPersonalityLinux = 0x0000;    // PER_LINUX
constexpr int64_t kPersonalityLinux32 = 0x0008;  // PER_LINUX32
constexpr size_t kMaxGroups = 65536;             // the kernel's NGROUPS_MAX

// "" when the request's attach options are ones lxcts sends; else what is wrong with them.
std::string AttachExtrasProblem(const AttachRequest& request);

// A supplementary gid as the wire carries it (decimal); false for anything else.
bool ParseGid(const std::string& text, uint32_t& gid);

}  // namespace lxcts
