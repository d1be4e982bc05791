// Module-level calls about liblxc itself: its global config (lxc.conf) and its API extensions.
#pragma once

#include <napi.h>

namespace lxcts {

Napi::Value GlobalConfigItem(const Napi::CallbackInfo& info);  // (key) → Promise<string | null>
Napi::Value HasApiExtension(const Napi::CallbackInfo& info);   // (name) → boolean

}  // namespace lxcts
