// Per-environment state (one per Node.js main thread or worker), stored with
// SetInstanceData instead of statics so the addon works in worker_threads.
#pragma once

#include <napi.h>

#include <memory>

#include "attach_client.h"
#include "lifecycle_client.h"
#include "teardown.h"

namespace lxcts {

struct AddonData {
  // The JS LxcError class, handed over once by src/lxc/native.ts through setErrorClass().
  Napi::FunctionReference errorClass;
  // The lxcts-attach helper exec and spawn go through; none when its path was not given.
  std::unique_ptr<AttachClient> attachClient;
  // The resident lxcts-lifecycle server (lifecycle_client.h), made on first use.
  std::shared_ptr<LifecycleServer> lifecycleServer;
  // What the environment's end must close or tell (see teardown.h). Held by shared_ptr:
  // close callbacks and the cleanup hook may run after this struct is deleted.
  std::shared_ptr<EnvTeardown> teardown;
};

inline AddonData* GetAddonData(Napi::Env env) { return env.GetInstanceData<AddonData>(); }

}  // namespace lxcts
