// The cgroups liblxc makes for a container's monitor (lxc.monitor.NAME in every hierarchy).
// start() moves its caller, here lxcts-lifecycle, into them; when the start then fails
// (a network device that cannot be set up, a failing hook), liblxc cannot remove them
// because its caller is still inside, and they stay behind: one per hierarchy and failed
// start, towards the kernel's cgroup limits. lxcts-lifecycle undoes that.
#pragma once

#include <string>
#include <vector>

namespace lxcts {

class MonitorCgroups {
 public:
  // Notes where this process is and which monitor cgroups of `name` exist, before start().
  explicit MonitorCgroups(const std::string& name);

  // After a successful start(): moves this process back where it was. Left inside until it
  // exits, it kept lxc.monitor.NAME busy when the container stopped at once (a start racing
  // a stop): the monitor's rmdir failed and the cgroups stayed, one per hierarchy.
  void Leave() const;

  // After a failed start(): Leave(), then removes the monitor cgroups the start made. One
  // still holding a process is left alone (the kernel refuses), after a short wait for the
  // failed monitor to exit.
  void RemoveAfterFailedStart() const;

  // After a successful start(), before Leave(): the monitor cgroups liblxc moved this
  // process into.
  std::vector<std::string> Entered() const;

  // After Leave(): removes those of `entered` the monitor has left already. Another
  // caller's stop may have come while this process was inside, and the monitor could not
  // remove them then.
  void RemoveAfterEarlyStop(const std::vector<std::string>& entered) const;

 private:
  std::vector<std::string> NamesIn(const std::string& dir) const;  // lxc.monitor.NAME[-N] in one hierarchy
  std::vector<std::string> Existing() const;                       // their paths, in every hierarchy
  std::vector<std::string> Made() const;                           // those of Existing() that were not there before start()

  std::string name_;
  std::vector<std::string> ownDirs_;
  std::vector<std::string> before_;  // names (not paths) of the monitor cgroups before start()
};

}  // namespace lxcts
