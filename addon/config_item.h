// Small helpers around liblxc's "ask for the length, then fill a buffer" getters.
#pragma once

#include <lxc/lxccontainer.h>

#include <string>
#include <vector>

namespace lxcts {

// The value of a config key, or "" when it is unset or unknown.
std::string ReadConfigItem(lxc_container* c, const char* key);

// Whether liblxc knows `key`. lxc_config_item_is_supported() matches whole names only, so
// it rejects every indexed or namespaced key (lxc.net.0.type, lxc.cgroup2.memory.max);
// those families are accepted here by their prefix, as liblxc's own parser does.
bool IsKnownConfigKey(const std::string& key);

// Splits liblxc's newline-separated lists (get_keys, multi-valued items).
std::vector<std::string> SplitLines(const std::string& text);

}  // namespace lxcts
