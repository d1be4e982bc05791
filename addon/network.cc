// NativeContainer::Interfaces and ::IpAddresses. liblxc forks a child that enters the
// container's network namespace; forked from Node, that copies Node's page tables and
// leaves its next calls paying copy-on-write faults. So as root both read the namespace
// from a thread of their own (netns_reads.cc), forking nothing; otherwise they run in a
// process of the resident lxcts-lifecycle server (lifecycle_helper.cc: ips, interfaces),
// which answers the list; through liblxc in Node only when there is no server (the helper
// was not built).
#include "args.h"
#include "container.h"
#include "lifecycle_client.h"
#include "netns_reads.h"
#include "preconditions.h"
#include "string_arrays.h"

namespace lxcts {

Napi::Value NativeContainer::Interfaces(const Napi::CallbackInfo& info) {
  return Run(info, "interfaces", Runner::kPool, [](lxc_container* c, HandleState& s, Outcome& out) {
    if (!RequireRunning(c, s.Subject(), out)) return;
    if (CanReadNetnsInProcess()) {
      std::vector<std::string> names;
      if (!ReadInterfaces(c->init_pid(c), names)) return out.Fail("LXC_NETWORK_FAILED", "cannot list the interfaces of " + s.Subject());
      out.value = std::move(names);
      return;
    }
    if (s.lifecycle) {
      LifecycleCall call{"interfaces", {s.name, s.lxcpath}, nullptr, false, "LXC_NETWORK_FAILED", s.Subject(), s.lifecycle};
      call.answersLines = true;
      return RunLifecycle(call, out);
    }
    char** names = c->get_interfaces(c);
    if (names == nullptr) return out.Fail("LXC_NETWORK_FAILED", "cannot list the interfaces of " + s.Subject());
    out.value = TakeStringArray(names);
  });
}

Napi::Value NativeContainer::IpAddresses(const Napi::CallbackInfo& info) {
  std::string interface = OptionalStringArg(info, 0, "interface");
  std::string family = OptionalStringArg(info, 1, "family");
  return Run(info, "ipAddresses", Runner::kPool, [interface, family](lxc_container* c, HandleState& s, Outcome& out) {
    if (!RequireRunning(c, s.Subject(), out)) return;
    if (CanReadNetnsInProcess()) {
      std::vector<std::string> ips;
      ReadAddresses(c->init_pid(c), interface, family, ips);  // false also means "none yet", as get_ips's NULL
      out.value = std::move(ips);
      return;
    }
    if (s.lifecycle) {
      LifecycleCall call{"ips", {s.name, s.lxcpath, interface, family}, nullptr, false, "LXC_NETWORK_FAILED", s.Subject(), s.lifecycle};
      call.answersLines = true;
      return RunLifecycle(call, out);
    }
    // scope 0: global addresses only (no link-local fe80::).
    char** ips = c->get_ips(c, interface.empty() ? nullptr : interface.c_str(), family.empty() ? nullptr : family.c_str(), 0);
    out.value = TakeStringArray(ips);  // NULL also means "none yet"
  });
}

}  // namespace lxcts
