// NativeContainer::Interfaces and ::IpAddresses. Both fork a child that enters the
// container's network namespace, so they run off the main thread like everything else.
#include "args.h"
#include "container.h"
#include "preconditions.h"
#include "string_arrays.h"

namespace lxcts {

Napi::Value NativeContainer::Interfaces(const Napi::CallbackInfo& info) {
  return Run(info, "interfaces", Runner::kPool, [](lxc_container* c, HandleState& s, Outcome& out) {
    if (!RequireRunning(c, s.Subject(), out)) return;
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
    // scope 0: global addresses only (no link-local fe80::).
    char** ips = c->get_ips(c, interface.empty() ? nullptr : interface.c_str(), family.empty() ? nullptr : family.c_str(), 0);
    out.value = TakeStringArray(ips);  // NULL also means "none yet"
  });
}

}  // namespace lxcts
