#include "config_item.h"

#include <unistd.h>

#include <cctype>

namespace lxcts {
namespace {

bool StartsWith(const std::string& s, const std::string& prefix) {
  return s.size() > prefix.size() && s.compare(0, prefix.size(), prefix) == 0;
}

// lxc.net.<index> or lxc.net.<index>.<subkey>
bool IsNetKey(const std::string& key) {
  const std::string prefix = "lxc.net.";
  if (!StartsWith(key, prefix)) return false;
  size_t i = prefix.size();
  size_t digits = i;
  while (digits < key.size() && std::isdigit(static_cast<unsigned char>(key[digits]))) digits++;
  if (digits == i) return false;
  return digits == key.size() || (key[digits] == '.' && digits + 1 < key.size());
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
