// Checks made before asking liblxc to act. They refuse (no log lines attached), since
// liblxc itself was never asked.
#pragma once

#include <lxc/lxccontainer.h>

#include <string>

#include "container_state.h"
#include "task.h"

namespace lxcts {

inline bool RequireDefined(lxc_container* c, const std::string& subject, Outcome& out) {
  if (c->is_defined(c)) return true;
  out.Refuse("LXC_NOT_DEFINED", subject + " does not exist");
  return false;
}

inline bool RequireRunning(lxc_container* c, const std::string& subject, Outcome& out) {
  std::string code, message;
  if (!NotRunning(c, subject, code, message)) return true;
  out.Refuse(std::move(code), std::move(message));
  return false;
}

}  // namespace lxcts
