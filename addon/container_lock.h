// One answer per container for lxcts's lifecycle calls (lxcts-lifecycle, see
// lifecycle_helper.cc): a lock per container, and the cleanup of what a killed create or
// clone left behind.
//
// liblxc checks and acts without holding a lock across both (is the container defined?
// then destroy it), so two callers on one name can both "succeed" or both fail. Its own
// per-container lock cannot be held around a call either: liblxc takes that fcntl lock
// inside destroy, clone and save_config, on a new open file, and would wait for us
// forever. So lxcts takes an flock(2) on the same lock file (/run/lxc/lock/LXCPATH/.NAME
// for root). On Linux, flock and fcntl locks on one file do not interact: liblxc's
// locking inside the call is unchanged, and every lxcts caller, in any process, waits for
// the one before it. (The lxc-* tools do not take it.)
#pragma once

#include <lxc/lxccontainer.h>

#include <string>

#include "fds.h"

namespace lxcts {

class ContainerLock {
 public:
  ContainerLock() = default;
  // Blocks until no other lxcts call holds the lock of `name` in `lxcpath` (liblxc's
  // resolved lxcpath, as lxc_container's config_path). False with `error` set when the
  // lock file cannot be opened.
  bool Acquire(const std::string& lxcpath, const std::string& name, std::string& error);

 private:
  UniqueFd fd_;  // released by closing: this process is the only holder of the open file
};

// What a killed create() or clone() may have left: the container's directory with
// liblxc's `partial` marker in it, which no live process holds locked any more.
enum class Leftover {
  kNone,     // no marker
  kCleared,  // a dead creator's container was removed
  kBusy,     // a live process (lxc-create, say) is still creating it
  kFailed,   // a dead creator's container could not be removed (`error` says why)
};

// Whether `<lxcpath>/<name>` holds a `partial` marker nobody holds locked: what a killed
// create() or clone() leaves (a live one keeps it locked). Needs no lock; cheap when there
// is no marker (one failed open).
bool AbandonedPartial(const std::string& lxcpath, const std::string& name);

// Call with the container's lock held, on a freshly opened `c`; `c` is stale afterwards
// when the result is kCleared.
Leftover ClearLeftover(lxc_container* c, std::string& error);

// Marks `<lxcpath>/<name>` as being created, the way liblxc's create() does: a `partial`
// file that stays locked while this process lives. A clone killed midway then looks like
// a killed create, and ClearLeftover() removes it on next use.
class PartialMarker {
 public:
  bool Mark(const std::string& lxcpath, const std::string& name);
  // The creation completed: remove the marker.
  void Done();

 private:
  std::string path_;
  UniqueFd fd_;
};

}  // namespace lxcts
