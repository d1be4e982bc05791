// liblxc 5.0 exports no monitor functions (lxc_monitor_open, lxc_monitor_read_timeout and
// lxc_monitord_spawn are hidden; `nm -D liblxc.so.1` lists none): the lxc tools carry their
// own copy. What they share is the wire, unchanged since LXC 1.0: each container's monitor
// process writes a fixed-size `struct lxc_msg` per state change to a FIFO per lxcpath, and
// lxc-monitord reads that FIFO and copies every message to each client of an abstract unix
// socket named after the lxcpath. Reading the FIFO ourselves would steal messages from
// lxc-monitor and other watchers; connecting to lxc-monitord, as lxc-monitor does, does not.
// Connecting never blocks for long (a unix socket), but runs on the pool all the same.
#include "monitor_socket.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <string>

#include "args.h"
#include "fds.h"
#include "task.h"

namespace lxcts {
namespace {

// liblxc's fnv_64a_buf with FNV1A_64_INIT.
uint64_t Fnv1a64(const std::string& text) {
  uint64_t hash = 0xcbf29ce484222325ULL;
  for (unsigned char byte : text) {
    hash ^= byte;
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

// As liblxc's lxc_monitor_sock_name: "\0lxc/HASH/LXCPATH", where HASH is the FNV-1a of
// "lxc/LXCPATH/monitor-sock"; the name must fit sun_path with a byte to spare.
bool MonitorAddress(const std::string& lxcpath, sockaddr_un& addr, socklen_t& length) {
  memset(&addr, 0, sizeof(addr));
  addr.sun_family = AF_UNIX;
  char hash[17];
  snprintf(hash, sizeof(hash), "%016" PRIx64, Fnv1a64("lxc/" + lxcpath + "/monitor-sock"));
  std::string name = std::string("lxc/") + hash + "/" + lxcpath;
  if (name.size() + 2 >= sizeof(addr.sun_path)) return false;
  memcpy(addr.sun_path + 1, name.data(), name.size());  // sun_path[0] stays '\0': abstract
  length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
  return true;
}

}  // namespace

Napi::Value MonitorConnect(const Napi::CallbackInfo& info) {
  std::string lxcpath = StringArg(info, 0, "lxcpath");
  TaskSpec spec;
  spec.op = "watch";
  spec.work = [lxcpath](Outcome& out) {
    sockaddr_un addr;
    socklen_t length = 0;
    if (!MonitorAddress(lxcpath, addr, length)) {
      return out.Refuse("LXC_MONITOR_FAILED", "the lxcpath \"" + lxcpath + "\" is too long for liblxc's monitor socket name");
    }
    UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd.Valid()) return out.Refuse("LXC_MONITOR_FAILED", std::string("cannot make a socket: ") + strerror(errno));
    fd = AboveStdio(std::move(fd));
    int ret;
    do {
      ret = connect(fd.Get(), reinterpret_cast<sockaddr*>(&addr), length);
    } while (ret != 0 && errno == EINTR);
    if (ret != 0) {
      if (errno == ECONNREFUSED || errno == ENOENT) {
        out.value = Null{};  // no lxc-monitord for this lxcpath yet
        return;
      }
      return out.Refuse("LXC_MONITOR_FAILED", "cannot connect to lxc-monitord for \"" + lxcpath + "\": " + strerror(errno));
    }
    // The name is abstract: anyone on the host (or in a container sharing its network
    // namespace) may bind it before lxc-monitord does and feed forged state records. Only
    // root's lxc-monitord, or one of our own uid (an unprivileged user's lxcpath), is heard.
    ucred peer{};
    socklen_t peer_length = sizeof(peer);
    if (getsockopt(fd.Get(), SOL_SOCKET, SO_PEERCRED, &peer, &peer_length) != 0) {
      return out.Refuse("LXC_MONITOR_FAILED", std::string("cannot tell who serves the monitor socket: ") + strerror(errno));
    }
    if (peer.uid != 0 && peer.uid != geteuid()) {
      return out.Refuse("LXC_MONITOR_FAILED", "the monitor socket of \"" + lxcpath + "\" is served by uid " + std::to_string(peer.uid) +
                                                  " (pid " + std::to_string(peer.pid) +
                                                  "), neither root nor us: not lxc-monitord, refused");
    }
    out.value = int64_t{fd.Release()};
  };
  spec.undelivered = [](Outcome& out) {
    if (auto* fd = std::get_if<int64_t>(&out.value)) close(static_cast<int>(*fd));
  };
  return RunTask(info.Env(), Napi::Object::New(info.Env()), std::move(spec), Runner::kPool);
}

}  // namespace lxcts
