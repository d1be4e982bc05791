#include "monitor_cgroups.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <fstream>

namespace lxcts {
namespace {

bool IsDirectory(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// The directories of a process's cgroups, from its /proc/PID/cgroup, with the hierarchies
// mounted where distributions mount them (/sys/fs/cgroup/CONTROLLERS, the v2 one at
// /sys/fs/cgroup/unified on hybrid hosts). Elsewhere nothing is found, and nothing removed.
std::vector<std::string> CgroupDirsIn(const char* procCgroupFile) {
  std::vector<std::string> dirs;
  std::ifstream in(procCgroupFile);
  std::string line;
  while (std::getline(in, line)) {
    size_t first = line.find(':');
    size_t second = first == std::string::npos ? first : line.find(':', first + 1);
    if (second == std::string::npos) continue;
    std::string controllers = line.substr(first + 1, second - first - 1);
    std::string where = line.substr(second + 1);
    if (controllers.rfind("name=", 0) == 0) controllers.erase(0, 5);
    std::string mount = "/sys/fs/cgroup";
    if (!controllers.empty()) {
      mount += "/" + controllers;
    } else if (IsDirectory(mount + "/unified")) {
      mount += "/unified";
    }
    std::string dir = where == "/" ? mount : mount + where;
    if (IsDirectory(dir)) dirs.push_back(dir);
  }
  return dirs;
}

// lxc.monitor.NAME, or the NAME-1, NAME-2 ... liblxc picks when that one exists.
bool IsMonitorCgroupOf(const std::string& entry, const std::string& prefix) {
  if (entry == prefix) return true;
  if (entry.size() <= prefix.size() + 1 || entry.compare(0, prefix.size() + 1, prefix + "-") != 0) return false;
  return std::all_of(entry.begin() + static_cast<long>(prefix.size()) + 1, entry.end(),
                     [](char ch) { return std::isdigit(static_cast<unsigned char>(ch)) != 0; });
}

}  // namespace

MonitorCgroups::MonitorCgroups(const std::string& name) : name_(name), ownDirs_(CgroupDirsIn("/proc/self/cgroup")) {
  // liblxc gives a monitor the same name in every hierarchy, so the names in one tell which
  // exist: one directory listing before each start instead of one per hierarchy (a root
  // lists every cgroup below it, hundreds on a busy host, and other programs' leftovers).
  std::vector<std::string> dirs = CgroupDirsIn("/proc/1/cgroup");
  if (!dirs.empty()) before_ = NamesIn(dirs.front());
}

std::vector<std::string> MonitorCgroups::NamesIn(const std::string& dir) const {
  std::vector<std::string> found;
  const std::string prefix = "lxc.monitor." + name_;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return found;
  while (dirent* entry = readdir(d)) {
    if (IsMonitorCgroupOf(entry->d_name, prefix)) found.emplace_back(entry->d_name);
  }
  closedir(d);
  return found;
}

std::vector<std::string> MonitorCgroups::Existing() const {
  std::vector<std::string> found;
  // liblxc makes them below init's cgroups (lxc.cgroup.relative unset), not the caller's.
  for (const std::string& dir : CgroupDirsIn("/proc/1/cgroup")) {
    for (const std::string& name : NamesIn(dir)) found.push_back(dir + "/" + name);
  }
  return found;
}

void MonitorCgroups::Leave() const {
  const std::string pid = std::to_string(getpid());
  for (const std::string& dir : ownDirs_) std::ofstream(dir + "/cgroup.procs") << pid;
}

std::vector<std::string> MonitorCgroups::Made() const {
  std::vector<std::string> made;
  for (const std::string& cgroup : Existing()) {
    const std::string name = cgroup.substr(cgroup.rfind('/') + 1);
    if (std::find(before_.begin(), before_.end(), name) == before_.end()) made.push_back(cgroup);
  }
  return made;
}

void MonitorCgroups::RemoveAfterFailedStart() const {
  Leave();
  for (const std::string& cgroup : Made()) {
    // The failed monitor may still be exiting: up to 2 s for its cgroup to empty.
    for (int tries = 0; rmdir(cgroup.c_str()) != 0 && errno == EBUSY && tries < 100; tries++) usleep(20 * 1000);
  }
}

std::vector<std::string> MonitorCgroups::Entered() const {
  std::vector<std::string> entered;
  const std::string prefix = "lxc.monitor." + name_;
  for (const std::string& dir : CgroupDirsIn("/proc/self/cgroup")) {
    if (IsMonitorCgroupOf(dir.substr(dir.rfind('/') + 1), prefix)) entered.push_back(dir);
  }
  return entered;
}

void MonitorCgroups::RemoveAfterEarlyStop(const std::vector<std::string>& entered) const {
  // An exiting monitor goes hierarchy by hierarchy: it moves itself to lxc.pivot, then
  // removes lxc.monitor.NAME there, which fails while this process is still inside. So the
  // ones it passed before Leave() are empty now and only this process can remove them,
  // while in the ones it has yet to reach it still is (EBUSY here; it removes them itself).
  // Every one is tried: stopping at the first EBUSY left the passed ones behind. While the
  // container runs each rmdir is one failing syscall.
  for (const std::string& cgroup : entered) rmdir(cgroup.c_str());
}

}  // namespace lxcts
