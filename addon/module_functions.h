// Module-level calls that need no container handle.
#pragma once

#include <napi.h>

namespace lxcts {

Napi::Value ListContainers(const Napi::CallbackInfo& info);       // (lxcpath|null, which) → Promise<string[]>
Napi::Value DefaultLxcpath(const Napi::CallbackInfo& info);       // () → Promise<string>
Napi::Value Version(const Napi::CallbackInfo& info);              // () → string
Napi::Value ResizeTerminal(const Napi::CallbackInfo& info);       // (fd, cols, rows) → boolean
Napi::Value ClockTicks(const Napi::CallbackInfo& info);           // () → USER_HZ, the unit of cpuacct.stat
Napi::Value ConfigItemSupported(const Napi::CallbackInfo& info);  // (key) → boolean

}  // namespace lxcts
