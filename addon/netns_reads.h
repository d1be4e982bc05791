// The addresses and interfaces of a running container, read in its network namespace by a
// thread of this process that enters it (netns_reads.cc): no process is forked.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace lxcts {

// Whether this process can enter another network namespace from one of its threads (it
// is root): otherwise the reads go through the lifecycle helper, which forks as liblxc does.
bool CanReadNetnsInProcess();

// As liblxc's get_ips with scope 0 for the network namespace of `initPid`: the IPv4 and
// global IPv6 addresses, of `interface` only when it is not empty (else of every interface
// but lo), of `family` ("inet", "inet6") only when it is not empty; sorted as liblxc sorts
// them. False when the namespace cannot be entered or read (the container stopped).
bool ReadAddresses(pid_t initPid, const std::string& interface, const std::string& family, std::vector<std::string>& out);

// As liblxc's get_interfaces: every interface's name, lo included, sorted, once each.
bool ReadInterfaces(pid_t initPid, std::vector<std::string>& out);

}  // namespace lxcts
