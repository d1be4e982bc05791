// NULL-terminated string arrays: the ones liblxc allocates, and the ones it is given.
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

// NULL-terminated argv view over `strings`, which must outlive it.
inline std::vector<char*> ArgvOf(std::vector<std::string>& strings) {
  std::vector<char*> argv;
  for (std::string& s : strings) argv.push_back(s.data());
  argv.push_back(nullptr);
  return argv;
}

}  // namespace lxcts
