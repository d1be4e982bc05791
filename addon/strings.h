// Taking ownership of the NULL-terminated string arrays liblxc allocates.
#pragma once

#include <cstdlib>
#include <string>
#include <vector>

namespace lxcts {

// Copies and frees a malloc'd, NULL-terminated array of malloc'd strings (get_ips,
// get_interfaces). NULL gives an empty list.
inline std::vector<std::string> TakeStringArray(char** array) {
  std::vector<std::string> out;
  if (array == nullptr) return out;
  for (char** p = array; *p != nullptr; p++) {
    out.emplace_back(*p);
    free(*p);
  }
  free(array);
  return out;
}

}  // namespace lxcts
