// Clones and snapshots: NativeContainer::Clone, ::Snapshot, ::Snapshots,
// ::RestoreSnapshot, ::DestroySnapshot.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>
#include <optional>

#include "args.h"
#include "container.h"
#include "fds.h"
#include "lifecycle_client.h"
#include "preconditions.h"

namespace lxcts {
namespace {

// A snapshot's comment as an anonymous file; invalid when it cannot be written whole.
UniqueFd CommentFile(const std::string& comment) {
  UniqueFd file(memfd_create("lxcts-comment", MFD_CLOEXEC));
  size_t written = 0;
  while (file.Valid() && written < comment.size()) {
    ssize_t n = write(file.Get(), comment.data() + written, comment.size() - written);
    if (n <= 0) return UniqueFd();
    written += static_cast<size_t>(n);
  }
  return file;
}

}  // namespace

Napi::Value NativeContainer::Clone(const Napi::CallbackInfo& info) {
  std::string newName = StringArg(info, 0, "newName");
  std::string newLxcpath = OptionalStringArg(info, 1, "lxcpath");
  bool snapshot = BoolArg(info, 2);
  std::string backend = OptionalStringArg(info, 3, "backend");
  bool keepName = BoolArg(info, 4);
  bool keepMac = BoolArg(info, 5);
  int64_t newSize = info[6].IsUndefined() ? 0 : IntegerArg(info, 6, "newSize");
  std::vector<std::string> hookArgs = StringArrayArg(info, 7, "hookArgs");
  return Run(info, "clone", Runner::kOwnThread, [=](lxc_container* c, HandleState& s, Outcome& out) {
    // In the lxcts-lifecycle helper (see container.cc), from this handle's config.
    std::string path = newLxcpath.empty() ? s.lxcpath : newLxcpath;
    LifecycleCall call{"clone",
                       {s.name, s.lxcpath, newName, path, snapshot ? "1" : "0", backend, keepName ? "1" : "0", keepMac ? "1" : "0",
                        std::to_string(newSize), "--"},
                       c,
                       false,
                       "LXC_CLONE_FAILED",
                       s.Subject(),
                       s.lifecycle};
    call.args.insert(call.args.end(), hookArgs.begin(), hookArgs.end());
    RunLifecycle(call, out);
  });
}

Napi::Value NativeContainer::Snapshot(const Napi::CallbackInfo& info) {
  std::optional<std::string> comment;
  if (!info[0].IsNull() && !info[0].IsUndefined()) comment = StringArg(info, 0, "comment");
  return Run(info, "snapshot", Runner::kOwnThread, [comment](lxc_container* c, HandleState& s, Outcome& out) {
    if (!RequireDefined(c, s.Subject(), out)) return;
    if (s.lifecycle) {
      // In the lxcts-lifecycle helper: liblxc's snapshot forks (see container.cc).
      LifecycleCall call{
          "snapshot", {s.name, s.lxcpath, comment ? "1" : "0", comment.value_or("")}, c, false, "LXC_SNAPSHOT_FAILED", s.Subject(),
          s.lifecycle};
      call.answersLines = true;
      RunLifecycle(call, out);
      auto* lines = std::get_if<std::vector<std::string>>(&out.value);
      if (out.failure || lines == nullptr) return;
      if (lines->size() != 1) return out.Refuse("LXC_INTERNAL", "unreadable answer from lxcts-lifecycle for " + s.Subject());
      std::string name = lines->front();
      out.value = name;
      return;
    }
    // liblxc copies the comment from a file it opens by path: a memfd leaves nothing on disk.
    UniqueFd file;
    if (comment && !(file = CommentFile(*comment)).Valid()) return out.Fail("LXC_SNAPSHOT_FAILED", "cannot hold the snapshot's comment");
    std::string path = file.Valid() ? "/proc/self/fd/" + std::to_string(file.Get()) : "";
    int index = c->snapshot(c, file.Valid() ? path.c_str() : nullptr);
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
    if (s.lifecycle) {
      // In the lxcts-lifecycle helper: liblxc restores by cloning the snapshot, which forks.
      RunLifecycle({"restore-snapshot", {s.name, s.lxcpath, snapshot, target}, c, false, "LXC_SNAPSHOT_FAILED", s.Subject(), s.lifecycle},
                   out);
      if (!out.failure && target == s.name) s.reopen = true;
      return;
    }
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
