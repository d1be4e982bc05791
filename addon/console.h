// The container's console and ttys (liblxc's console_getfd and console_log), and the
// module functions that go with them. NativeContainer's methods are in console.cc too.
#pragma once

#include <napi.h>

namespace lxcts {

// consoleResize(fd, cols, rows, monitorPid, monitorStart): sets a console master's window size.
// For the console itself (tty 0) liblxc hands out a proxy terminal and copies its size to the
// real console only when its monitor gets SIGWINCH, which nothing sends it: we do
// (monitorPid > 0), through a pidfd, when the pid still names the process that consoleOpen
// found to be the monitor (its start time, monitorStart).
Napi::Value ConsoleResize(const Napi::CallbackInfo& info);

}  // namespace lxcts
