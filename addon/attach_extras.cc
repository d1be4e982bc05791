#include "attach_extras.h"

namespace lxcts {

std::string AttachExtrasProblem(const AttachRequest& request) {
  if (request.namespaces != -1 && (request.namespaces == 0 || (request.namespaces & ~kAttachNamespaces) != 0)) {
    return "the namespaces to enter must be a non-empty set of mount, uts, ipc, user, pid, net and cgroup";
  }
  if (request.personality != -1 && request.personality != kPersonalityLinux && request.personality != kPersonalityLinux32) {
    return "the personality must be linux (64-bit) or linux32";
  }
  if (request.groups.size() > kMaxGroups) return "more supplementary groups than the kernel's limit of 65536";
  for (uint32_t gid : request.groups) {
    if (gid == UINT32_MAX) return "a supplementary group id must be below 4294967295";
  }
  return "";
}

bool ParseGid(const std::string& text, uint32_t& gid) {
  if (text.empty() || text.size() > 10) return false;
  uint64_t value = 0;
  for (char ch : text) {
    if (ch < '0' || ch > '9') return false;
    value = value * 10 + static_cast<uint64_t>(ch - '0');
  }
  if (value >= UINT32_MAX) return false;
  gid = static_cast<uint32_t>(value);
  return true;
}

}  // namespace lxcts
