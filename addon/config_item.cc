#include "config_item.h"

#include <unistd.h>

#include <cctype>
#include <cstring>

namespace lxcts {
namespace {

bool StartsWith(const std::string& s, const std::string& prefix) {
  return s.size() > prefix.size() && s.compare(0, prefix.size(), prefix) == 0;
}

// The subkeys of lxc.net.<index> in LXC 5.0 (config_jump_table_net in liblxc's confile.c).
// liblxc exports no way to ask: lxc_config_item_is_supported() knows whole names only, and
// get_keys() on a container lists some of the subkeys of its interface's type (5.0.2 leaves
// out l2proxy, veth.mode, veth.vlan.tagged.id and the queue counts). A key that is not here
// fails as unknown before liblxc sees it, rather than as a bad value.
constexpr const char* kNetSubkeys[] = {
    "flags",
    "hwaddr",
    "ipv4.address",
    "ipv4.gateway",
    "ipv6.address",
    "ipv6.gateway",
    "link",
    "l2proxy",
    "macvlan.mode",
    "ipvlan.mode",
    "ipvlan.isolation",
    "mtu",
    "name",
    "script.down",
    "script.up",
    "type",
    "vlan.id",
    "veth.mode",
    "veth.pair",
    "veth.ipv4.route",
    "veth.ipv6.route",
    "veth.vlan.id",
    "veth.vlan.tagged.id",
    "veth.n_rxqueues",
    "veth.n_txqueues",
};

// lxc.net.<index> or lxc.net.<index>.<subkey>, with a subkey liblxc knows.
bool IsNetKey(const std::string& key) {
  const std::string prefix = "lxc.net.";
  if (!StartsWith(key, prefix)) return false;
  size_t i = prefix.size();
  size_t digits = i;
  while (digits < key.size() && std::isdigit(static_cast<unsigned char>(key[digits]))) digits++;
  if (digits == i) return false;
  if (digits == key.size()) return true;
  if (key[digits] != '.') return false;
  const char* subkey = key.c_str() + digits + 1;
  for (const char* known : kNetSubkeys) {
    if (strcmp(subkey, known) == 0) return true;
  }
  return false;
}

}  // namespace

bool IsKnownConfigKey(const std::string& key) {
  if (key.empty()) return false;
  if (lxc_config_item_is_supported(key.c_str())) return true;
  if (IsNetKey(key)) return true;
  // Keys whose last part names a kernel setting rather than an LXC option.
  for (const char* family : {"lxc.cgroup.", "lxc.cgroup2.", "lxc.prlimit.", "lxc.sysctl.", "lxc.proc."}) {
    if (StartsWith(key, family)) return true;
  }
  return false;
}

std::string ReadConfigItem(lxc_container* c, const char* key) {
  std::string value = ReadSized([&](char* buffer, int size) { return c->get_config_item(c, key, buffer, size); }).value_or("");
  // Multi-valued keys end every value with a newline; callers get the values joined by one.
  while (!value.empty() && value.back() == '\n') value.pop_back();
  return value;
}

void LoadDefaultConfig(lxc_container* c) {
  const char* defaults = lxc_get_global_config_item("lxc.default_config");
  if (defaults != nullptr && access(defaults, R_OK) == 0) c->load_config(c, defaults);
}

std::vector<std::string> SplitLines(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t newline = text.find('\n', start);
    if (newline == std::string::npos) newline = text.size();
    if (newline > start) lines.emplace_back(text, start, newline - start);
    start = newline + 1;
  }
  return lines;
}

}  // namespace lxcts
