#include "container_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <system_error>

namespace lxcts {
namespace {

// liblxc's run directory (get_rundir): /run for root, else XDG_RUNTIME_DIR, else
// ~/.cache/lxc/run.
std::string RunDir() {
  if (geteuid() == 0) return "/run";
  const char* xdg = getenv("XDG_RUNTIME_DIR");
  if (xdg != nullptr && *xdg != '\0') return xdg;
  const char* home = getenv("HOME");
  return std::string(home != nullptr ? home : "") + "/.cache/lxc/run";
}

std::string ContainerDir(lxc_container* c) { return std::string(c->config_path) + "/" + c->name; }

}  // namespace

bool ContainerLock::Acquire(const std::string& lxcpath, const std::string& name, std::string& error) {
  // The path liblxc's lxclock_name() builds, directory included (it creates it 0755 too).
  std::string dir = RunDir() + "/lxc/lock/" + lxcpath;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  std::string path = dir + "/." + name;
  fd_ = UniqueFd(open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, S_IRUSR | S_IWUSR));
  if (!fd_.Valid()) {
    error = "cannot open the container's lock file " + path + ": " + strerror(errno);
    return false;
  }
  int rc;
  do rc = flock(fd_.Get(), LOCK_EX);
  while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    error = "cannot lock " + path + ": " + strerror(errno);
    return false;
  }
  return true;
}

namespace {

enum class Marker { kNone, kHeld, kAbandoned };

Marker PartialMarkerState(const std::string& dir) {
  UniqueFd partial(open((dir + "/partial").c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW));
  if (!partial.Valid()) return Marker::kNone;
  // liblxc 5.0 itself treats any partial file as a create in progress (its F_OFD_GETLK
  // check cannot tell), so a killed create's container stays forever: ask the kernel
  // whether anybody still holds the marker's lock.
  struct flock lk = {};
  lk.l_type = F_WRLCK;
  lk.l_whence = SEEK_SET;
  if (fcntl(partial.Get(), F_OFD_GETLK, &lk) != 0 || lk.l_type != F_UNLCK) return Marker::kHeld;
  return Marker::kAbandoned;
}

}  // namespace

bool AbandonedPartial(const std::string& lxcpath, const std::string& name) {
  return PartialMarkerState(lxcpath + "/" + name) == Marker::kAbandoned;
}

Leftover ClearLeftover(lxc_container* c, std::string& error) {
  std::string dir = ContainerDir(c);
  Marker marker = PartialMarkerState(dir);
  if (marker == Marker::kNone) return Leftover::kNone;
  if (marker == Marker::kHeld) return Leftover::kBusy;
  // Nothing of a killed creator runs any more (lxcts-lifecycle kills its process group),
  // and its rootfs mounts lived in a mount namespace that died with it.
  if (c->is_defined(c) && c->destroy(c)) return Leftover::kCleared;
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  if (ec) {
    error = "cannot remove the half-created container's directory " + dir + ": " + ec.message();
    return Leftover::kFailed;
  }
  return Leftover::kCleared;
}

bool PartialMarker::Mark(const std::string& lxcpath, const std::string& name) {
  std::string dir = lxcpath + "/" + name;
  // The mode liblxc gives a container's directory (it may chown it to a mapped root later).
  mode_t mask = umask(0002);
  int rc = mkdir(dir.c_str(), 0770);
  umask(mask);
  if (rc != 0 && errno != EEXIST) return false;
  path_ = dir + "/partial";
  fd_ = UniqueFd(open(path_.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0000));
  if (!fd_.Valid()) return false;
  struct flock lk = {};
  lk.l_type = F_WRLCK;
  lk.l_whence = SEEK_SET;
  if (fcntl(fd_.Get(), F_OFD_SETLK, &lk) != 0) {
    Done();
    return false;
  }
  return true;
}

void PartialMarker::Done() {
  if (!fd_.Valid()) return;
  unlink(path_.c_str());
  fd_.Reset();
}

}  // namespace lxcts
