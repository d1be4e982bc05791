// NativeContainer::ConsoleOpen and ::ConsoleLog, and ConsoleResize.
//
// console_getfd asks the container's monitor, over its command socket, for the master of
// a tty (tty 0: a proxy of the console). liblxc returns the command socket (the tty stays
// ours until it is closed) and the master; neither call forks, so they run in-process.
#include "console.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "args.h"
#include "container.h"
#include "fds.h"
#include "preconditions.h"

namespace lxcts {
namespace {

// The fields of /proc/PID/stat after the command name (field 3 on); empty when it is gone.
std::vector<std::string> StatFields(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return {};
  // The command name is in parentheses and may hold spaces: the fields after it are fixed.
  size_t close = line.rfind(')');
  if (close == std::string::npos) return {};
  std::istringstream rest(line.substr(close + 1));
  std::vector<std::string> fields;
  for (std::string field; rest >> field;) fields.push_back(field);
  return fields;
}

// The parent of the container's init is liblxc's monitor. 0 when it cannot be told: the
// resize of tty 0 then reaches the proxy only.
pid_t MonitorOf(pid_t init) {
  if (init <= 0) return 0;
  std::vector<std::string> fields = StatFields(init);
  long ppid = fields.size() > 1 ? strtol(fields[1].c_str(), nullptr, 10) : 0;
  return ppid > 1 ? static_cast<pid_t>(ppid) : 0;
}

// When the process started (clock ticks after boot, field 22): with the pid, it names one
// process for good, as a pid alone does not once the pid is reused. -1 when it is gone.
int64_t StartTime(pid_t pid) {
  std::vector<std::string> fields = StatFields(pid);
  return fields.size() > 19 ? strtoll(fields[19].c_str(), nullptr, 10) : -1;
}

std::string Cmdline(pid_t pid) {
  std::ifstream file("/proc/" + std::to_string(pid) + "/cmdline");
  std::string cmdline((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  return cmdline.substr(0, cmdline.find('\0'));
}

// The monitor rewrites its argv as one string, "[lxc monitor] LXCPATH NAME" (liblxc's
// lxc_monitor, setproctitle): compared whole, so that neither a process that merely ends
// in " NAME" nor the monitor of a same-named container of another lxcpath is taken for it.
bool IsMonitorOf(pid_t pid, const std::string& lxcpath, const std::string& container) {
  return Cmdline(pid) == "[lxc monitor] " + lxcpath + " " + container;
}

// SIGWINCH to the monitor found when the console was attached, if it still runs: through a
// pidfd taken before its start time is compared, so that a process given its pid since
// (whatever its cmdline) is never signalled.
void SignalMonitor(pid_t pid, int64_t start) {
  UniqueFd pidfd(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
  if (!pidfd.Valid() || StartTime(pid) != start) return;
  syscall(SYS_pidfd_send_signal, pidfd.Get(), SIGWINCH, nullptr, 0);
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
        int64_t monitorStart = 0;
        if (tty == 0) {
          pid_t candidate = MonitorOf(c->init_pid(c));
          int64_t start = candidate > 0 ? StartTime(candidate) : -1;
          // Checked after its start time was read: the start time is of that monitor.
          if (start >= 0 && c->config_path != nullptr && IsMonitorOf(candidate, c->config_path, s.name)) {
            monitor = candidate;
            monitorStart = start;
          }
        }
        if (cols > 0 && rows > 0) {
          struct winsize size = {};
          size.ws_col = static_cast<unsigned short>(cols);
          size.ws_row = static_cast<unsigned short>(rows);
          ioctl(reader.Get(), TIOCSWINSZ, &size);
          if (monitor > 0) SignalMonitor(monitor, monitorStart);
        }
        out.value = FlatRecord{{"tty", int64_t{tty}},
                               {"socket", int64_t{socket.Release()}},
                               {"read", int64_t{reader.Release()}},
                               {"write", int64_t{writer.Release()}},
                               {"monitorPid", int64_t{monitor}},
                               {"monitorStart", monitorStart}};
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
  int64_t monitorStart = IntegerArg(info, 4, "monitorStart");
  if (ioctl(fd, TIOCSWINSZ, &size) != 0) return Napi::Boolean::New(info.Env(), false);
  if (monitor > 0) SignalMonitor(monitor, monitorStart);
  return Napi::Boolean::New(info.Env(), true);
}

}  // namespace lxcts
