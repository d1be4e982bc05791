// Config items: liblxc's sized getters ("ask for the length, then fill a buffer"), the key
// check, the default config.
#pragma once

#include <lxc/lxccontainer.h>

#include <optional>
#include <string>
#include <vector>

namespace lxcts {

// liblxc's sized getters (get_config_item, get_keys, get_cgroup_item): `get(buffer, size)`
// is called with NULL for the length, then with a buffer one byte longer. nullopt when
// either call fails; the value may shrink between the two calls, never grow past the first.
template <typename Get>
std::optional<std::string> ReadSized(Get get) {
  int length = get(nullptr, 0);
  if (length < 0) return std::nullopt;
  if (length == 0) return std::string();
  std::string text(static_cast<size_t>(length) + 1, '\0');
  int written = get(text.data(), length + 1);
  if (written < 0) return std::nullopt;
  text.resize(static_cast<size_t>(written < length ? written : length));
  return text;
}

// The value of a config key, or "" when it is unset or unknown.
std::string ReadConfigItem(lxc_container* c, const char* key);

// Whether liblxc knows `key`. lxc_config_item_is_supported() matches whole names only, so
// it rejects every indexed or namespaced key (lxc.net.0.type, lxc.cgroup2.memory.max).
// lxc.net.<index>.<subkey> is checked against liblxc's subkeys; the families whose last
// part names a kernel setting are accepted by their prefix, as liblxc's own parser does.
bool IsKnownConfigKey(const std::string& key);

// Loads liblxc's lxc.default_config into `c`, as create() and lxc-execute start from it,
// when the file is there and readable.
void LoadDefaultConfig(lxc_container* c);

// Splits liblxc's newline-separated lists (get_keys, multi-valued items).
std::vector<std::string> SplitLines(const std::string& text);

}  // namespace lxcts
