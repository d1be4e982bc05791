// The state events of every container in an lxcpath, as liblxc's lxc-monitor reads them.
#pragma once

#include <napi.h>

namespace lxcts {

// monitorConnect(lxcpath): a promise of the connected descriptor of lxc-monitord's socket
// for `lxcpath`, or null when no lxc-monitord serves it (the caller starts one, then asks
// again). See monitor_socket.cc for why this speaks the socket itself.
Napi::Value MonitorConnect(const Napi::CallbackInfo& info);

}  // namespace lxcts
