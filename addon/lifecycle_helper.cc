// lxcts-lifecycle: runs one create, start, destroy or clone for the addon
// (lifecycle_client.cc), the way lxc-create, lxc-start, lxc-destroy and lxc-copy would.
// Each call runs in a process of its own, forked by the resident `lxcts-lifecycle --serve`
// (lifecycle_server.cc), or spawned for the call when there is no server.
//
// Why a process of its own per call:
// - start: liblxc records the calling process as the container's monitor and moves it
//   into lxc.monitor.NAME in every cgroup v1 hierarchy. Called from Node, that moved Node
//   itself (its memory then charged to a container) and left one cgroup per start and
//   hierarchy behind. Here it moves this short-lived process, as it moves lxc-start.
// - create and clone: liblxc forks the caller for the template and for rsync. Forking
//   Node copies its whole address space and stalls every thread; this process is small.
//   It is also the leader of a process group holding the template or rsync, which it
//   kills when Node dies (see OnParentDeath), so nothing keeps writing a half-made
//   container nobody waits for.
// - all four: the check and the act happen under the container's lock (container_lock.h),
//   so two callers on one name get one answer each, in some order.
//
//   lxcts-lifecycle PARENT_PID OP NAME LXCPATH ARG...
//     start   NAME LXCPATH [-- INIT ARG...]
//     create  NAME LXCPATH TEMPLATE BACKEND QUIET(0|1) [STORAGE_KEY=VALUE...] -- [TEMPLATE ARG...]
//     destroy NAME LXCPATH WITH_SNAPSHOTS(0|1)
//     clone   NAME LXCPATH NEW_NAME NEW_LXCPATH SNAPSHOT(0|1) BACKEND KEEP_NAME(0|1) KEEP_MAC(0|1) NEW_SIZE -- [HOOK ARG...]
//     rename  NAME LXCPATH NEW_NAME
//     clear   NAME LXCPATH      (only removes what a killed create or clone left)
//     ips     NAME LXCPATH INTERFACE FAMILY   (answer: "ok", then one address a line)
//     interfaces NAME LXCPATH                 (answer: "ok", then one name a line)
//     snapshot NAME LXCPATH HAS_COMMENT(0|1) COMMENT   (answer: "ok", then the snapshot's name)
//     restore-snapshot NAME LXCPATH SNAPSHOT NEW_NAME
//
// ips and interfaces are reads: liblxc forks a child that enters the container's network
// namespace, and forking this small process instead of Node keeps Node's memory from being
// copied and its next calls from paying the copy-on-write faults. They take no lock.
//
// LXCPATH, BACKEND and NEW_LXCPATH may be empty for liblxc's default. fd 4 (start, create,
// clone) holds the caller's in-memory config, as saved by liblxc; it replaces the one on
// disk for this call, as the addon's own handle would have used it. fd 3 receives the
// answer: a first line "ok", "refuse CODE MESSAGE" or "fail CODE MESSAGE", then liblxc's
// log lines of the call, one per line.
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lxc/lxccontainer.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "container_lock.h"
#include "fds.h"
#include "lifecycle_server.h"
#include "lifecycle_wire.h"
#include "log_capture.h"
#include "monitor_cgroups.h"
#include "string_arrays.h"

namespace lxcts {
namespace {

constexpr int kAnswerFd = 3;
constexpr int kConfigFd = 4;

// What this process does when Node dies (SIGTERM through PR_SET_PDEATHSIG).
enum Phase : int {
  kPreparing = 0,  // nothing started yet: just go
  kForking = 1,    // a template or rsync runs in our process group: kill it with us
  kFinishing = 2,  // start or destroy: a half-done one is worse than a finished one
};
volatile sig_atomic_t g_phase = kPreparing;

void OnParentDeath(int) {
  if (g_phase == kFinishing) return;
  // We lead the process group (the addon spawns us with POSIX_SPAWN_SETSID): this kills
  // the template, its children and rsync, and us. The `partial` marker is then unlocked
  // and the next lifecycle call removes the half-made container (ClearLeftover).
  if (g_phase == kForking) kill(0, SIGKILL);
  _exit(1);
}

struct Answer {
  std::string kind = "ok";  // ok, refuse, fail
  std::string code;
  std::string message;
  std::vector<std::string> details;

  Answer& Refuse(std::string c, std::string m) {
    kind = "refuse";
    code = std::move(c);
    message = std::move(m);
    return *this;
  }
  Answer& Fail(std::string c, std::string m) {
    kind = "fail";
    code = std::move(c);
    message = std::move(m);
    return *this;
  }
};

int Send(const Answer& answer) {
  std::string text = answer.kind;
  if (answer.kind != "ok") text += " " + answer.code + " " + answer.message;
  text += "\n";
  for (const std::string& line : answer.details) text += line + "\n";
  const char* p = text.data();
  size_t left = text.size();
  while (left > 0) {
    ssize_t n = write(kAnswerFd, p, left);
    if (n < 0) return 2;
    p += n;
    left -= static_cast<size_t>(n);
  }
  return 0;
}

std::string Subject(const std::string& name) { return "container \"" + name + "\""; }

const char* OrNull(const std::string& s) { return s.empty() ? nullptr : s.c_str(); }

// A liblxc handle on the container, with the config the caller had in memory and this
// call's log lines captured.
class Handle {
 public:
  Handle() = default;
  Handle(const std::string& name, const std::string& lxcpath) { Reopen(name, lxcpath); }
  ~Handle() { Reset(); }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;

  lxc_container* get() const { return c_; }
  void Reset() {
    log_.Close();
    if (c_ != nullptr) lxc_container_put(c_);
    c_ = nullptr;
  }
  void Reopen(const std::string& name, const std::string& lxcpath) {
    Reset();
    c_ = lxc_container_new(name.c_str(), OrNull(lxcpath));
  }
  // Replaces the config read from disk by the caller's (fd 4).
  bool UseCallersConfig() {
    c_->clear_config(c_);
    return c_->load_config(c_, ("/proc/self/fd/" + std::to_string(kConfigFd)).c_str());
  }
  void CaptureLog() {
    log_.Attach(c_);
    mark_ = log_.Mark();
  }
  void WaitQuiet() const { log_.WaitQuiet(); }
  std::vector<std::string> LogLines() const { return log_.Since(mark_); }

 private:
  lxc_container* c_ = nullptr;
  LogCapture log_;
  off_t mark_ = 0;
};

// What create() is told about the new rootfs's storage (liblxc's struct bdev_specs), from the
// STORAGE_KEY=VALUE arguments; the addon's caller validated them (src/lxc/storage.ts).
class StorageSpecs {
 public:
  // False, with `bad` set, for a key liblxc has no field for.
  bool Add(const std::string& item, std::string& bad) {
    size_t eq = item.find('=');
    std::string key = item.substr(0, eq), value = eq == std::string::npos ? "" : item.substr(eq + 1);
    if (key == "fssize") {
      specs_.fssize = std::strtoull(value.c_str(), nullptr, 10);
    } else if (key == "fstype" || key == "zfsroot" || key == "vg" || key == "lv" || key == "thinpool" || key == "dir" || key == "rbdname" ||
               key == "rbdpool") {
      values_[key] = value;
    } else {
      bad = key;
      return false;
    }
    given_ = true;
    return true;
  }

  // Null when no storage option was given: liblxc's defaults throughout.
  bdev_specs* Get() {
    if (!given_) return nullptr;
    specs_.fstype = Field("fstype");
    specs_.zfs.zfsroot = Field("zfsroot");
    specs_.lvm.vg = Field("vg");
    specs_.lvm.lv = Field("lv");
    specs_.lvm.thinpool = Field("thinpool");
    specs_.dir = Field("dir");
    specs_.rbd.rbdname = Field("rbdname");
    specs_.rbd.rbdpool = Field("rbdpool");
    return &specs_;
  }

 private:
  char* Field(const std::string& key) {
    auto it = values_.find(key);
    return it == values_.end() ? nullptr : it->second.data();
  }

  bdev_specs specs_ = {};
  std::map<std::string, std::string> values_;
  bool given_ = false;
};

int CountSnapshots(lxc_container* c) {
  struct lxc_snapshot* snapshots = nullptr;
  int n = c->snapshot_list(c, &snapshots);
  for (int i = 0; i < n; i++) snapshots[i].free(&snapshots[i]);
  free(snapshots);
  return n < 0 ? 0 : n;
}

// liblxc's lxcpath when none is given (what lxc_container_new would use).
std::string ResolveLxcpath(const std::string& lxcpath) {
  if (!lxcpath.empty()) return lxcpath;
  const char* value = lxc_get_global_config_item("lxc.lxcpath");  // thread-local: copy it
  return value != nullptr ? std::string(value) : std::string();
}

// Takes the lock of `name`, then opens it and removes what a killed creator left. Opening
// comes after the lock: a config file that another caller is deleting cannot be read.
// On false, `answer` says why. `cleared` tells whether there was such a leftover.
bool OpenLocked(const std::string& name, const std::string& lxcpath, Handle& h, ContainerLock& lock, Answer& answer,
                bool* cleared = nullptr) {
  std::string error;
  if (!lock.Acquire(ResolveLxcpath(lxcpath), name, error)) {
    answer.Fail("LXC_LOCK_FAILED", error);
    return false;
  }
  h.Reopen(name, lxcpath);
  if (h.get() == nullptr) {
    answer.Fail("LXC_OPEN_FAILED", "cannot load " + Subject(name) + ": its configuration could not be read");
    return false;
  }
  switch (ClearLeftover(h.get(), error)) {
    case Leftover::kNone:
      if (cleared != nullptr) *cleared = false;
      return true;
    case Leftover::kCleared:
      if (cleared != nullptr) *cleared = true;
      h.Reopen(name, lxcpath);
      if (h.get() != nullptr) return true;
      answer.Fail("LXC_OPEN_FAILED", "cannot load " + Subject(name) + " after removing its half-made container");
      return false;
    case Leftover::kBusy:
      answer.Refuse("LXC_BUSY", Subject(name) + " is being created by another process");
      return false;
    case Leftover::kFailed:
      answer.Fail("LXC_DESTROY_FAILED", error);
      return false;
  }
  return false;
}

Answer Start(const std::string& name, const std::string& lxcpath, std::vector<std::string> args) {
  Answer answer;
  Handle h;
  ContainerLock lock;
  if (!OpenLocked(name, lxcpath, h, lock, answer)) return answer;
  lxc_container* c = h.get();
  if (!c->is_defined(c)) return answer.Refuse("LXC_NOT_DEFINED", Subject(name) + " does not exist");
  if (c->is_running(c)) return answer.Refuse("LXC_ALREADY_RUNNING", Subject(name) + " is already running");
  if (!h.UseCallersConfig()) return answer.Fail("LXC_START_FAILED", "cannot read the config of " + Subject(name));
  h.CaptureLog();
  c->want_daemonize(c, true);
  // The monitor liblxc forks from us keeps none of our descriptors (the answer file).
  c->want_close_all_fds(c, true);
  std::vector<char*> argv = ArgvOf(args);
  const MonitorCgroups monitorCgroups(name);
  g_phase = kFinishing;
  if (!c->start(c, 0, args.empty() ? nullptr : argv.data())) {
    // The monitor explains the failure in the log after start() has returned.
    h.WaitQuiet();
    monitorCgroups.RemoveAfterFailedStart();
    answer.Fail("LXC_START_FAILED", Subject(name) + " failed to start");
    answer.details = h.LogLines();
  } else {
    const std::vector<std::string> entered = monitorCgroups.Entered();
    monitorCgroups.Leave();
    monitorCgroups.RemoveAfterEarlyStop(entered);
  }
  return answer;
}

Answer Create(const std::string& name, const std::string& lxcpath, const std::string& tmpl, const std::string& backend, bool quiet,
              StorageSpecs& storage, std::vector<std::string> args) {
  Answer answer;
  Handle h;
  ContainerLock lock;
  if (!OpenLocked(name, lxcpath, h, lock, answer)) return answer;
  lxc_container* c = h.get();
  if (c->is_defined(c)) return answer.Refuse("LXC_ALREADY_DEFINED", Subject(name) + " already exists");
  if (!h.UseCallersConfig()) return answer.Fail("LXC_CREATE_FAILED", "cannot read the config for " + Subject(name));
  h.CaptureLog();
  std::vector<char*> argv = ArgvOf(args);
  g_phase = kForking;
  bool ok = c->create(c, tmpl.c_str(), OrNull(backend), storage.Get(), quiet ? LXC_CREATE_QUIET : 0, argv.data());
  g_phase = kFinishing;
  if (!ok) {
    answer.Fail("LXC_CREATE_FAILED", "creating " + Subject(name) + " from template \"" + tmpl + "\" failed");
    answer.details = h.LogLines();
  }
  return answer;
}

Answer Destroy(const std::string& name, const std::string& lxcpath, bool withSnapshots) {
  Answer answer;
  Handle h;
  ContainerLock lock;
  bool cleared = false;
  if (!OpenLocked(name, lxcpath, h, lock, answer, &cleared)) return answer;
  // A half-made container left by a killed create was what the caller wanted gone.
  if (cleared) return answer;
  lxc_container* c = h.get();
  if (!c->is_defined(c)) return answer.Refuse("LXC_NOT_DEFINED", Subject(name) + " does not exist");
  if (c->is_running(c)) return answer.Refuse("LXC_RUNNING", Subject(name) + " is running; stop it first");
  int snapshots = CountSnapshots(c);
  if (!withSnapshots && snapshots > 0) {
    return answer.Refuse("LXC_HAS_SNAPSHOTS", Subject(name) + " has snapshots; destroy it with withSnapshots: true");
  }
  h.CaptureLog();
  g_phase = kFinishing;
  // destroy_with_snapshots() fails when the container never had a snapshot (it cannot
  // open the missing snaps directory), so it is only used when there are some.
  bool ok = snapshots > 0 ? c->destroy_with_snapshots(c) : c->destroy(c);
  if (!ok) {
    answer.Fail("LXC_DESTROY_FAILED", "destroying " + Subject(name) + " failed");
    answer.details = h.LogLines();
  }
  return answer;
}

struct CloneOptions {
  bool snapshot = false;
  std::string backend;
  int flags = 0;  // LXC_CLONE_KEEPNAME, LXC_CLONE_KEEPMACADDR
  uint64_t newSize = 0;
  std::vector<std::string> hookArgs;
};

Answer Clone(const std::string& name, const std::string& lxcpath, const std::string& newName, std::string newLxcpath,
             CloneOptions& options) {
  Answer answer;
  Handle source, target;
  if (newLxcpath.empty()) newLxcpath = ResolveLxcpath(lxcpath);
  // Both locks, always in the same order, so that a clone a→b and a clone b→a cannot
  // each hold one and wait for the other.
  std::string sourceKey = ResolveLxcpath(lxcpath) + "/" + name;
  std::string targetKey = newLxcpath + "/" + newName;
  if (sourceKey == targetKey) return answer.Refuse("LXC_ALREADY_DEFINED", Subject(newName) + " already exists");
  ContainerLock first, second;
  bool sourceFirst = sourceKey < targetKey;
  Handle& h1 = sourceFirst ? source : target;
  Handle& h2 = sourceFirst ? target : source;
  const std::string& n1 = sourceFirst ? name : newName;
  const std::string& n2 = sourceFirst ? newName : name;
  const std::string& p1 = sourceFirst ? lxcpath : newLxcpath;
  const std::string& p2 = sourceFirst ? newLxcpath : lxcpath;
  if (!OpenLocked(n1, p1, h1, first, answer) || !OpenLocked(n2, p2, h2, second, answer)) return answer;
  lxc_container* c = source.get();
  if (!c->is_defined(c)) return answer.Refuse("LXC_NOT_DEFINED", Subject(name) + " does not exist");
  lxc_container* t = target.get();
  if (t->is_defined(t)) return answer.Refuse("LXC_ALREADY_DEFINED", Subject(newName) + " already exists");
  if (!options.snapshot && c->is_running(c)) {
    return answer.Refuse("LXC_RUNNING", Subject(name) + " is running; stop it or clone a snapshot");
  }
  if (!source.UseCallersConfig()) return answer.Fail("LXC_CLONE_FAILED", "cannot read the config of " + Subject(name));
  target.Reset();  // liblxc opens the clone itself
  source.CaptureLog();
  // liblxc's clone has no `partial` marker of its own: a clone killed while rsync copies
  // would leave a defined container with half a rootfs.
  PartialMarker marker;
  bool marked = marker.Mark(newLxcpath, newName);
  g_phase = kForking;
  std::vector<char*> hookArgv = ArgvOf(options.hookArgs);
  int flags = options.flags | (options.snapshot ? LXC_CLONE_SNAPSHOT : 0);
  lxc_container* clone = c->clone(c, newName.c_str(), newLxcpath.c_str(), flags, OrNull(options.backend), nullptr, options.newSize,
                                  options.hookArgs.empty() ? nullptr : hookArgv.data());
  g_phase = kFinishing;
  if (clone != nullptr) {
    lxc_container_put(clone);
    marker.Done();
    return answer;
  }
  answer.Fail("LXC_CLONE_FAILED", "cloning " + Subject(name) + " to \"" + newName + "\" failed");
  answer.details = source.LogLines();
  // liblxc removes a failed clone; our marker may keep its directory.
  marker.Done();
  if (marked) {
    Handle leftover(newName, newLxcpath);
    std::string dir = newLxcpath + "/" + newName;
    struct stat st;
    if (leftover.get() != nullptr && !leftover.get()->is_defined(leftover.get()) && lstat(dir.c_str(), &st) == 0) {
      rmdir(dir.c_str());  // only when empty: never more than the marker put there
    }
  }
  return answer;
}

// liblxc snapshots by cloning (a fork to set the copy's hostname, rsync for a directory
// rootfs): here rather than in Node. From the caller's config, as its handle would have.
Answer Snapshot(const std::string& name, const std::string& lxcpath, bool hasComment, const std::string& comment) {
  Answer answer;
  Handle h(name, lxcpath);
  lxc_container* c = h.get();
  if (c == nullptr) return answer.Fail("LXC_OPEN_FAILED", "cannot load " + Subject(name) + ": its configuration could not be read");
  if (!h.UseCallersConfig()) return answer.Fail("LXC_SNAPSHOT_FAILED", "cannot read the config of " + Subject(name));
  // liblxc copies the comment from a file it opens by path: a memfd leaves nothing on disk.
  UniqueFd file;
  if (hasComment) {
    file = UniqueFd(memfd_create("lxcts-comment", MFD_CLOEXEC));
    if (!file.Valid() || write(file.Get(), comment.data(), comment.size()) != static_cast<ssize_t>(comment.size())) {
      return answer.Fail("LXC_SNAPSHOT_FAILED", "cannot hold the snapshot's comment");
    }
  }
  std::string path = file.Valid() ? "/proc/self/fd/" + std::to_string(file.Get()) : "";
  h.CaptureLog();
  // A snapshot half made is worse than one finished: it goes on if Node dies.
  g_phase = kFinishing;
  int index = c->snapshot(c, file.Valid() ? path.c_str() : nullptr);
  if (index < 0) {
    answer.Fail("LXC_SNAPSHOT_FAILED", "snapshotting " + Subject(name) + " failed");
    answer.details = h.LogLines();
    return answer;
  }
  answer.details = {"snap" + std::to_string(index)};
  return answer;
}

// The caller checked that the container is defined and, restoring in place, stopped.
Answer RestoreSnapshot(const std::string& name, const std::string& lxcpath, const std::string& snapshot, const std::string& target) {
  Answer answer;
  Handle h(name, lxcpath);
  lxc_container* c = h.get();
  if (c == nullptr) return answer.Fail("LXC_OPEN_FAILED", "cannot load " + Subject(name) + ": its configuration could not be read");
  if (!h.UseCallersConfig()) return answer.Fail("LXC_SNAPSHOT_FAILED", "cannot read the config of " + Subject(name));
  h.CaptureLog();
  g_phase = kFinishing;
  if (!c->snapshot_restore(c, snapshot.c_str(), target.c_str())) {
    answer.Fail("LXC_SNAPSHOT_FAILED", "restoring snapshot \"" + snapshot + "\" of " + Subject(name) + " failed");
    answer.details = h.LogLines();
  }
  return answer;
}

// liblxc renames by cloning under the new name (rsync for a directory rootfs) and destroying
// the original; both names are locked, in a fixed order, for the whole of it.
Answer Rename(const std::string& name, const std::string& lxcpath, const std::string& newName) {
  Answer answer;
  if (newName == name) return answer.Refuse("LXC_ALREADY_DEFINED", Subject(newName) + " already exists");
  Handle source, target;
  ContainerLock first, second;
  bool sourceFirst = name < newName;
  if (!OpenLocked(sourceFirst ? name : newName, lxcpath, sourceFirst ? source : target, first, answer) ||
      !OpenLocked(sourceFirst ? newName : name, lxcpath, sourceFirst ? target : source, second, answer)) {
    return answer;
  }
  lxc_container* c = source.get();
  if (!c->is_defined(c)) return answer.Refuse("LXC_NOT_DEFINED", Subject(name) + " does not exist");
  if (target.get()->is_defined(target.get())) return answer.Refuse("LXC_ALREADY_DEFINED", Subject(newName) + " already exists");
  if (c->is_running(c)) return answer.Refuse("LXC_RUNNING", Subject(name) + " is running; stop it first");
  if (CountSnapshots(c) > 0) {
    return answer.Refuse("LXC_HAS_SNAPSHOTS", Subject(name) + " has snapshots, which liblxc cannot rename; destroy them first");
  }
  target.Reset();
  source.CaptureLog();
  // A rename killed while the copy runs leaves a half-made container under the new name:
  // marked, it is removed by the next call on that name, as a killed clone's is.
  PartialMarker marker;
  marker.Mark(ResolveLxcpath(lxcpath), newName);
  g_phase = kForking;
  bool ok = c->rename(c, newName.c_str());
  g_phase = kFinishing;
  marker.Done();
  if (!ok) {
    answer.Fail("LXC_RENAME_FAILED", "renaming " + Subject(name) + " to \"" + newName + "\" failed");
    answer.details = source.LogLines();
  }
  return answer;
}

// The caller checked that the container runs; one that stopped since has no addresses, as
// liblxc's get_ips says by returning none.
Answer Ips(const std::string& name, const std::string& lxcpath, const std::string& interface, const std::string& family) {
  Answer answer;
  Handle h(name, lxcpath);
  lxc_container* c = h.get();
  if (c == nullptr) return answer.Fail("LXC_OPEN_FAILED", "cannot load " + Subject(name) + ": its configuration could not be read");
  // scope 0: global addresses only (no link-local fe80::).
  answer.details = TakeStringArray(c->get_ips(c, OrNull(interface), OrNull(family), 0));
  return answer;
}

Answer Interfaces(const std::string& name, const std::string& lxcpath) {
  Answer answer;
  Handle h(name, lxcpath);
  lxc_container* c = h.get();
  if (c == nullptr) return answer.Fail("LXC_OPEN_FAILED", "cannot load " + Subject(name) + ": its configuration could not be read");
  h.CaptureLog();
  char** names = c->get_interfaces(c);
  if (names == nullptr) {
    answer.Fail("LXC_NETWORK_FAILED", "cannot list the interfaces of " + Subject(name));
    answer.details = h.LogLines();
    return answer;
  }
  answer.details = TakeStringArray(names);
  return answer;
}

bool Flag(const char* arg) { return std::strcmp(arg, "1") == 0; }

// The arguments after "--", if any, from index `from`.
std::vector<std::string> Rest(int argc, char** argv, int from) {
  std::vector<std::string> rest;
  if (from < argc && std::strcmp(argv[from], "--") == 0) from++;
  for (int i = from; i < argc; i++) rest.emplace_back(argv[i]);
  return rest;
}

int RunCall(int argc, char** argv, pid_t parent) {
  for (int fd : {kAnswerFd, kConfigFd}) fcntl(fd, F_SETFD, FD_CLOEXEC);
  // When the Node process (the thread that spawned us) dies, OnParentDeath decides.
  struct sigaction sa = {};
  sa.sa_handler = OnParentDeath;
  sigaction(SIGTERM, &sa, nullptr);
  // As in Node: a container's monitor must not die writing to a caller that went away.
  signal(SIGPIPE, SIG_IGN);
  if (argc < 5) return Send(Answer().Fail("LXC_INTERNAL", "usage: lxcts-lifecycle PARENT_PID OP NAME LXCPATH ARG..."));
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (getppid() != parent) return 1;  // the parent died before prctl

  std::string op = argv[2], name = argv[3], lxcpath = argv[4];
  if (op == "start") return Send(Start(name, lxcpath, Rest(argc, argv, 5)));
  if (op == "create" && argc >= 8) {
    StorageSpecs storage;
    int i = 8;
    std::string bad;
    for (; i < argc && std::strcmp(argv[i], "--") != 0; i++) {
      if (!storage.Add(argv[i], bad)) return Send(Answer().Fail("LXC_INTERNAL", "lxcts-lifecycle: unknown storage option " + bad));
    }
    return Send(Create(name, lxcpath, argv[5], argv[6], Flag(argv[7]), storage, Rest(argc, argv, i)));
  }
  if (op == "clear") {
    Answer answer;
    Handle h;
    ContainerLock lock;
    OpenLocked(name, lxcpath, h, lock, answer);
    return Send(answer);
  }
  if (op == "destroy" && argc >= 6) return Send(Destroy(name, lxcpath, Flag(argv[5])));
  if (op == "clone" && argc >= 12) {
    CloneOptions options;
    options.snapshot = Flag(argv[7]);
    options.backend = argv[8];
    options.flags = (Flag(argv[9]) ? LXC_CLONE_KEEPNAME : 0) | (Flag(argv[10]) ? LXC_CLONE_KEEPMACADDR : 0);
    options.newSize = std::strtoull(argv[11], nullptr, 10);
    options.hookArgs = Rest(argc, argv, 12);
    return Send(Clone(name, lxcpath, argv[5], argv[6], options));
  }
  if (op == "ips" && argc >= 7) return Send(Ips(name, lxcpath, argv[5], argv[6]));
  if (op == "interfaces") return Send(Interfaces(name, lxcpath));
  if (op == "snapshot" && argc >= 7) return Send(Snapshot(name, lxcpath, Flag(argv[5]), argv[6]));
  if (op == "restore-snapshot" && argc >= 7) return Send(RestoreSnapshot(name, lxcpath, argv[5], argv[6]));
  if (op == "rename" && argc >= 6) return Send(Rename(name, lxcpath, argv[5]));
  return Send(Answer().Fail("LXC_INTERNAL", "lxcts-lifecycle: unknown operation or missing arguments: " + op));
}

}  // namespace

int RunLifecycleCall(int argc, char** argv, pid_t parent, int answered) {
  int status = RunCall(argc, argv, parent);
  if (answered >= 0) {
    // Everything of the call is done (the lock is released as we exit): the caller may go on.
    LifecycleReport report{LifecycleReport::kAnswered, status};
    ssize_t n;
    do n = send(answered, &report, sizeof report, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
  }
  return status;
}

}  // namespace lxcts

int main(int argc, char** argv) {
  if (argc >= 2 && std::strcmp(argv[1], "--serve") == 0) return lxcts::ServeLifecycle(argc, argv);
  // One call, spawned by the addon (the way it runs a call when the server is unavailable).
  return lxcts::RunLifecycleCall(argc, argv, argc >= 2 ? static_cast<pid_t>(std::atol(argv[1])) : 0);
}
