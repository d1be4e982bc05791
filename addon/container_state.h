// Why a container cannot run a command: shared by the addon's precondition checks
// (preconditions.h) and the lxcts-attach helper, which has no Node code.
#pragma once

#include <lxc/lxccontainer.h>

#include <string>

namespace lxcts {

// False when `c` is running; otherwise fills in LXC_NOT_DEFINED or LXC_NOT_RUNNING.
inline bool NotRunning(lxc_container* c, const std::string& subject, std::string& code, std::string& message) {
  if (c->is_running(c)) return false;
  if (!c->is_defined(c)) {
    code = "LXC_NOT_DEFINED";
    message = subject + " does not exist";
  } else {
    code = "LXC_NOT_RUNNING";
    message = subject + " is not running";
  }
  return true;
}

}  // namespace lxcts
