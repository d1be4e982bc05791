// NativeContainer::ConsoleOpen and ::ConsoleLog, and ConsoleResize.
//
// console_getfd asks the container's monitor, over its command socket, for the master of
// a tty (tty 0: a proxy of the console). liblxc returns the command socket (the tty stays
// ours until it is closed) and the master; neither call forks, so they run in-process.
#include "console.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include "args.h"
#include "container.h"
#include "fds.h"
#include "preconditions.h"

namespace lxcts {
namespace {

// The parent of the container's init is liblxc's monitor ("[lxc monitor] LXCPATH NAME").
// 0 when it cannot be told: the resize of tty 0 then reaches the proxy only.
pid_t MonitorOf(pid_t init, const std::string& name) {
  if (init <= 0) return 0;
  std::ifstream stat("/proc/" + std::to_string(init) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return 0;
  // The command name is in parentheses and may hold spaces: the fields after it are fixed.
  size_t close = line.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream rest(line.substr(close + 1));
  std::string state;
  long ppid = 0;
  rest >> state >> ppid;
  return ppid > 1 ? static_cast<pid_t>(ppid) : 0;
}

bool IsMonitorOf(pid_t pid, const std::string& container) {
  std::ifstream file("/proc/" + std::to_string(pid) + "/cmdline");
  std::string cmdline((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  const std::string prefix = "[lxc monitor] ";
  if (cmdline.compare(0, prefix.size(), prefix) != 0) return false;
  // The monitor rewrites its argv as one string: "[lxc monitor] LXCPATH NAME".
  std::string tail = cmdline.substr(0, cmdline.find('\0'));
  return tail.size() > container.size() && tail.compare(tail.size() - container.size() - 1, std::string::npos, " " + container) == 0;
}

bool SetNonBlocking(int fd) {
  int flags = fcntl(fd, F_GETFL);
  return flags >= 0 && fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0;
}

}  // namespace

Napi::Value NativeContainer::ConsoleOpen(const Napi::CallbackInfo& info) {
  int ttynum = static_cast<int>(IntegerArg(info, 0, "tty"));
  int cols = static_cast<int>(IntegerArg(info, 1, "cols"));
  int rows = static_cast<int>(IntegerArg(info, 2, "rows"));
  auto undelivered = [](Outcome& out) {
    // The answer never reached JavaScript: nobody else will close these.
    if (auto* record = std::get_if<FlatRecord>(&out.value)) {
      for (auto& [key, value] : *record) {
        if ((key == "socket" || key == "read" || key == "write") && std::holds_alternative<int64_t>(value)) {
          close(static_cast<int>(std::get<int64_t>(value)));
        }
      }
    }
  };
  return Run(
      info, "console", Runner::kPool,
      [ttynum, cols, rows](lxc_container* c, HandleState& s, Outcome& out) {
        if (!RequireRunning(c, s.Subject(), out)) return;
        int tty = ttynum;
        int master = -1;
        UniqueFd socket(c->console_getfd(c, &tty, &master));
        UniqueFd reader(master);
        if (!socket.Valid() || !reader.Valid()) {
          std::string which = ttynum == 0 ? "the console" : ttynum < 0 ? "a free tty" : "tty " + std::to_string(ttynum);
          return out.Fail("LXC_CONSOLE_BUSY", "cannot attach to " + which + " of " + s.Subject() +
                                                  ": it is in use, or the container has no such tty (lxc.tty.max)");
        }
        // Reads go through libuv, writes through fs.write: both must never block the event
        // loop. The writer gets a descriptor of its own so that each side closes its own.
        UniqueFd writer(fcntl(reader.Get(), F_DUPFD_CLOEXEC, 3));
        if (!writer.Valid() || !SetNonBlocking(reader.Get()) || fcntl(socket.Get(), F_SETFD, FD_CLOEXEC) != 0 ||
            fcntl(reader.Get(), F_SETFD, FD_CLOEXEC) != 0) {
          return out.Fail("LXC_CONSOLE_FAILED", std::string("cannot set up the console's descriptors: ") + strerror(errno));
        }
        pid_t monitor = 0;
        if (tty == 0) {
          pid_t candidate = MonitorOf(c->init_pid(c), s.name);
          if (candidate > 0 && IsMonitorOf(candidate, s.name)) monitor = candidate;
        }
        if (cols > 0 && rows > 0) {
          struct winsize size = {};
          size.ws_col = static_cast<unsigned short>(cols);
          size.ws_row = static_cast<unsigned short>(rows);
          ioctl(reader.Get(), TIOCSWINSZ, &size);
          if (monitor > 0) kill(monitor, SIGWINCH);
        }
        out.value = FlatRecord{{"tty", int64_t{tty}},
                               {"socket", int64_t{socket.Release()}},
                               {"read", int64_t{reader.Release()}},
                               {"write", int64_t{writer.Release()}},
                               {"monitorPid", int64_t{monitor}}};
      },
      true, undelivered);
}

Napi::Value NativeContainer::ConsoleLog(const Napi::CallbackInfo& info) {
  bool clear = BoolArg(info, 0);
  return Run(info, "consoleLog", Runner::kPool, [clear](lxc_container* c, HandleState& s, Outcome& out) {
    if (!RequireRunning(c, s.Subject(), out)) return;
    uint64_t readMax = 0;  // 0: all the ring buffer holds
    struct lxc_console_log log = {};
    log.clear = clear;
    log.read = true;
    log.read_max = &readMax;
    int ret = c->console_log(c, &log);
    if (ret == -ENODATA) {
      out.value = std::string();  // nothing written since the last read
      return;
    }
    if (ret == -EFAULT) {
      return out.Refuse("LXC_CONSOLE_LOG_UNAVAILABLE",
                        s.Subject() + " keeps no console log: set lxc.console.buffer.size (e.g. \"auto\") before starting it");
    }
    if (ret < 0) return out.Fail("LXC_CONSOLE_FAILED", "cannot read the console log of " + s.Subject() + ": " + strerror(-ret));
    std::string data = log.data != nullptr ? std::string(log.data, static_cast<size_t>(readMax)) : std::string();
    free(log.data);  // malloc'd by liblxc for us
    out.value = std::move(data);
  });
}

Napi::Value ConsoleResize(const Napi::CallbackInfo& info) {
  int fd = static_cast<int>(IntegerArg(info, 0, "fd"));
  struct winsize size = {};
  size.ws_col = static_cast<unsigned short>(IntegerArg(info, 1, "cols"));
  size.ws_row = static_cast<unsigned short>(IntegerArg(info, 2, "rows"));
  pid_t monitor = static_cast<pid_t>(IntegerArg(info, 3, "monitorPid"));
  std::string container = StringArg(info, 4, "container");
  if (ioctl(fd, TIOCSWINSZ, &size) != 0) return Napi::Boolean::New(info.Env(), false);
  // The pid was the monitor's when the console was attached; check before signalling it.
  if (monitor > 0 && IsMonitorOf(monitor, container)) kill(monitor, SIGWINCH);
  return Napi::Boolean::New(info.Env(), true);
}

}  // namespace lxcts
