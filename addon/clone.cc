// Clones and snapshots: NativeContainer::Clone, ::Snapshot, ::Snapshots,
// ::RestoreSnapshot, ::DestroySnapshot.
#include <cstdlib>

#include "args.h"
#include "container.h"
#include "lifecycle_client.h"
#include "preconditions.h"

namespace lxcts {

Napi::Value NativeContainer::Clone(const Napi::CallbackInfo& info) {
  std::string newName = StringArg(info, 0, "newName");
  std::string newLxcpath = OptionalStringArg(info, 1, "lxcpath");
  bool snapshot = BoolArg(info, 2);
  std::string backend = OptionalStringArg(info, 3, "backend");
  return Run(info, "clone", Runner::kOwnThread, [=](lxc_container* c, HandleState& s, Outcome& out) {
    // In the lxcts-lifecycle helper (see container.cc), from this handle's config.
    std::string path = newLxcpath.empty() ? s.lxcpath : newLxcpath;
    RunLifecycle({"clone", {s.name, s.lxcpath, newName, path, snapshot ? "1" : "0", backend}, c, false, "LXC_CLONE_FAILED", s.Subject()},
                 out);
  });
}

Napi::Value NativeContainer::Snapshot(const Napi::CallbackInfo& info) {
  return Run(info, "snapshot", Runner::kOwnThread, [](lxc_container* c, HandleState& s, Outcome& out) {
    if (!RequireDefined(c, s.Subject(), out)) return;
    int index = c->snapshot(c, nullptr);
    if (index < 0) return out.Fail("LXC_SNAPSHOT_FAILED", "snapshotting " + s.Subject() + " failed");
    out.value = "snap" + std::to_string(index);
  });
}

Napi::Value NativeContainer::Snapshots(const Napi::CallbackInfo& info) {
  return Run(info, "snapshots", Runner::kPool, [](lxc_container* c, HandleState& s, Outcome& out) {
    if (!RequireDefined(c, s.Subject(), out)) return;
    struct lxc_snapshot* list = nullptr;
    int n = c->snapshot_list(c, &list);
    if (n < 0) return out.Fail("LXC_SNAPSHOT_FAILED", "cannot list the snapshots of " + s.Subject());
    StringRecords records;
    for (int i = 0; i < n; i++) {
      auto field = [](const char* s) { return std::string(s != nullptr ? s : ""); };
      records.push_back({{"name", field(list[i].name)},
                         {"timestamp", field(list[i].timestamp)},
                         {"commentPath", field(list[i].comment_pathname)},
                         {"lxcpath", field(list[i].lxcpath)}});
      list[i].free(&list[i]);
    }
    free(list);
    out.value = std::move(records);
  });
}

Napi::Value NativeContainer::RestoreSnapshot(const Napi::CallbackInfo& info) {
  std::string snapshot = StringArg(info, 0, "snapshot");
  std::string newName = OptionalStringArg(info, 1, "newName");
  return Run(info, "restoreSnapshot", Runner::kOwnThread, [=](lxc_container* c, HandleState& s, Outcome& out) {
    if (!RequireDefined(c, s.Subject(), out)) return;
    std::string target = newName.empty() ? s.name : newName;
    if (target == s.name && c->is_running(c)) return out.Refuse("LXC_RUNNING", s.Subject() + " is running; stop it first");
    if (!c->snapshot_restore(c, snapshot.c_str(), target.c_str())) {
      return out.Fail("LXC_SNAPSHOT_FAILED", "restoring snapshot \"" + snapshot + "\" of " + s.Subject() + " failed");
    }
    // Restoring in place rewrites the config on disk: reload it on next use.
    if (target == s.name) s.reopen = true;
  });
}

Napi::Value NativeContainer::DestroySnapshot(const Napi::CallbackInfo& info) {
  std::string snapshot = StringArg(info, 0, "snapshot");
  return Run(info, "destroySnapshot", Runner::kOwnThread, [snapshot](lxc_container* c, HandleState& s, Outcome& out) {
    if (!RequireDefined(c, s.Subject(), out)) return;
    if (!c->snapshot_destroy(c, snapshot.c_str())) {
      out.Fail("LXC_SNAPSHOT_FAILED", "destroying snapshot \"" + snapshot + "\" of " + s.Subject() + " failed");
    }
  });
}

}  // namespace lxcts
