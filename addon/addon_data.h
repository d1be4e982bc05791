// Per-environment state (one per Node.js main thread or worker), stored with
// SetInstanceData instead of statics so the addon works in worker_threads.
#pragma once

#include <napi.h>

namespace lxcts {

struct AddonData {
  // The JS LxcError class, handed over once by src/lxc/native.ts through setErrorClass().
  Napi::FunctionReference errorClass;
};

inline AddonData* GetAddonData(Napi::Env env) {
  return env.GetInstanceData<AddonData>();
}

}  // namespace lxcts
