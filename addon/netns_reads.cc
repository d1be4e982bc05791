// Why a thread and not a process: liblxc's get_ips and get_interfaces fork a child that
// enters the container's network namespace. Forked from Node that copies Node's page tables
// (~60 MB mapped) and leaves Node's next calls paying copy-on-write faults; forked from the
// lifecycle server it still costs two forks and a config parse per read. A network
// namespace, unlike a user or mount namespace, is a thread's own (setns(CLONE_NEWNET) in a
// multithreaded process moves only the calling thread), and root may enter any. So a
// thread made for the read enters the namespace, lists the addresses with getifaddrs
// (a netlink dump the kernel answers; nothing in the container can hold it up) and ends:
// the namespace never outlives the read, and no pool thread is left in a container's
// namespace even if going back would fail.
#include "netns_reads.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <system_error>
#include <thread>

#include "fds.h"

namespace lxcts {
namespace {

// Runs `read` on a new thread inside the network namespace of `initPid`.
template <typename Read>
bool InNetns(pid_t initPid, Read read) {
  if (initPid <= 0) return false;
  UniqueFd ns(open(("/proc/" + std::to_string(initPid) + "/ns/net").c_str(), O_RDONLY | O_CLOEXEC));
  if (!ns.Valid()) return false;
  bool ok = false;
  try {
    std::thread reader([&] {
      if (setns(ns.Get(), CLONE_NEWNET) != 0) return;
      struct ifaddrs* list = nullptr;
      if (getifaddrs(&list) != 0) return;
      read(list);
      freeifaddrs(list);
      ok = true;
    });
    reader.join();
  } catch (const std::system_error&) {
    return false;  // no thread to be had: as liblxc's failed fork
  }
  return ok;
}

}  // namespace

bool CanReadNetnsInProcess() { return geteuid() == 0; }

bool ReadAddresses(pid_t initPid, const std::string& interface, const std::string& family, std::vector<std::string>& out) {
  out.clear();
  bool ok = InNetns(initPid, [&](struct ifaddrs* list) {
    for (struct ifaddrs* a = list; a != nullptr; a = a->ifa_next) {
      if (a->ifa_addr == nullptr || a->ifa_name == nullptr) continue;
      const void* address;
      int af = a->ifa_addr->sa_family;
      if (af == AF_INET) {
        if (!family.empty() && family != "inet") continue;
        address = &reinterpret_cast<const struct sockaddr_in*>(a->ifa_addr)->sin_addr;
      } else if (af == AF_INET6) {
        if (!family.empty() && family != "inet6") continue;
        // liblxc's scope 0: getifaddrs gives link-local addresses their interface as scope id.
        const auto* in6 = reinterpret_cast<const struct sockaddr_in6*>(a->ifa_addr);
        if (in6->sin6_scope_id != 0) continue;
        address = &in6->sin6_addr;
      } else {
        continue;  // the links' own entries (AF_PACKET): liblxc's inet_ntop refuses them too
      }
      if (!interface.empty() ? interface != a->ifa_name : std::strcmp(a->ifa_name, "lo") == 0) continue;
      char text[INET6_ADDRSTRLEN];
      if (inet_ntop(af, address, text, sizeof text) != nullptr) out.emplace_back(text);
    }
  });
  if (!ok) return false;
  std::sort(out.begin(), out.end());
  return true;
}

bool ReadInterfaces(pid_t initPid, std::vector<std::string>& out) {
  out.clear();
  bool ok = InNetns(initPid, [&](struct ifaddrs* list) {
    for (struct ifaddrs* a = list; a != nullptr; a = a->ifa_next) {
      if (a->ifa_name != nullptr) out.emplace_back(a->ifa_name);
    }
  });
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  // liblxc returns NULL when it found none: the caller's "cannot list".
  return ok && !out.empty();
}

}  // namespace lxcts
