// lxcts-container-op: runs one liblxc call that forks, or leaves a process behind, outside
// Node: devices, interfaces, checkpoint, restore, migrate (src/lxc/container-ops.ts).
//
// Why a process of its own, spawned per call (as lxcts-lifecycle, see lifecycle_helper.cc):
// - add_device_node, remove_device_node and detach_interface fork a child that enters the
//   container; forking Node from a thread copies one thread of a threaded process (a lock
//   another thread held stays held in the child).
// - checkpoint, restore and migrate fork and exec criu; restore's forked child then stays
//   as the restored container's monitor, which must not be a copy of Node.
// - liblxc finds criu on the PATH of the process that calls it: the caller passes its own.
//
//   lxcts-container-op OP NAME LXCPATH ARG...
//     add-device       NAME LXCPATH SOURCE DEST
//     remove-device    NAME LXCPATH SOURCE DEST
//     attach-interface NAME LXCPATH DEVICE DEST
//     detach-interface NAME LXCPATH DEVICE DEST
//     checkpoint       NAME LXCPATH DIRECTORY STOP(0|1) VERBOSE(0|1)
//     restore          NAME LXCPATH DIRECTORY VERBOSE(0|1)
//     addresses        NAME LXCPATH          (the container's addresses with their scope)
//     migrate          NAME LXCPATH CMD DIRECTORY PREDUMP_DIR PAGESERVER_ADDRESS PAGESERVER_PORT ACTION_SCRIPT
//                      STOP VERBOSE PRESERVES_INODES DISABLE_SKIP_IN_FLIGHT GHOST_LIMIT FEATURES
//
// LXCPATH, DEST and the migrate strings may be empty (liblxc's default, or none). CMD is
// pre-dump, dump, restore or feature-check. The answer is one line of JSON on fd 3,
// {"ok":true} (with "values":[...] for addresses) or {"code":...,"message":...,"details":[liblxc's log lines]}, written before
// this process exits; the caller reads that line and does not wait for end-of-file, since
// a restored container's monitor, forked from here, may keep fd 3 open.
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <lxc/lxccontainer.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "log_capture.h"

namespace lxcts {
namespace {

constexpr int kAnswerFd = 3;

struct Answer {
  std::string code;  // empty: ok
  std::string message;
  std::vector<std::string> details;
  std::vector<std::string> values;  // what an ok answer returns (addresses)
};

void AppendJsonString(std::string& out, const std::string& s) {
  out.push_back('"');
  for (unsigned char ch : s) {
    if (ch == '"' || ch == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(ch));
    } else if (ch < 0x20 || ch == 0x7f) {
      char escaped[8];
      snprintf(escaped, sizeof escaped, "\\u%04x", ch);
      out.append(escaped);
    } else {
      out.push_back(static_cast<char>(ch));
    }
  }
  out.push_back('"');
}

int Send(const Answer& answer) {
  std::string text;
  if (answer.code.empty()) {
    text = "{\"ok\":true,\"values\":[";
    for (size_t i = 0; i < answer.values.size(); i++) {
      if (i > 0) text.push_back(',');
      AppendJsonString(text, answer.values[i]);
    }
    text += "]}\n";
  } else {
    text = "{\"code\":";
    AppendJsonString(text, answer.code);
    text += ",\"message\":";
    AppendJsonString(text, answer.message);
    text += ",\"details\":[";
    for (size_t i = 0; i < answer.details.size(); i++) {
      if (i > 0) text.push_back(',');
      AppendJsonString(text, answer.details[i]);
    }
    text += "]}\n";
  }
  const char* p = text.data();
  size_t left = text.size();
  while (left > 0) {
    ssize_t n = write(kAnswerFd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return 2;
    p += n;
    left -= static_cast<size_t>(n);
  }
  return 0;
}

struct UniqueSocket {
  int fd;
  explicit UniqueSocket(int f) : fd(f) {}
  ~UniqueSocket() {
    if (fd >= 0) close(fd);
  }
};

const char* OrNull(const std::string& s) { return s.empty() ? nullptr : s.c_str(); }
bool Flag(const std::string& s) { return s == "1"; }
std::string Subject(const std::string& name) { return "container \"" + name + "\""; }

const char* ScopeName(unsigned char scope) {
  switch (scope) {
    case RT_SCOPE_UNIVERSE:
      return "global";
    case RT_SCOPE_SITE:
      return "site";
    case RT_SCOPE_LINK:
      return "link";
    case RT_SCOPE_HOST:
      return "host";
    default:
      return "other";
  }
}

// Every address of the network namespace this process is in, as "INTERFACE FAMILY SCOPE
// ADDRESS" lines, from one rtnetlink dump: the kernel's own scope for each address, which
// liblxc's get_ips (getifaddrs) cannot give. False with errno set when the dump failed.
bool DumpAddresses(std::vector<std::string>& out) {
  UniqueSocket nl(socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
  if (nl.fd < 0) return false;
  struct {
    nlmsghdr header;
    ifaddrmsg body;
  } request = {};
  request.header.nlmsg_len = sizeof request;
  request.header.nlmsg_type = RTM_GETADDR;
  request.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  request.header.nlmsg_seq = 1;
  request.body.ifa_family = AF_UNSPEC;
  if (send(nl.fd, &request, sizeof request, 0) < 0) return false;
  std::vector<char> buffer(64 * 1024);
  for (;;) {
    ssize_t n = recv(nl.fd, buffer.data(), buffer.size(), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    size_t left = static_cast<size_t>(n);
    for (auto* h = reinterpret_cast<nlmsghdr*>(buffer.data()); NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
      if (h->nlmsg_type == NLMSG_DONE) return true;
      if (h->nlmsg_type == NLMSG_ERROR) {
        errno = EIO;
        return false;
      }
      if (h->nlmsg_type != RTM_NEWADDR) continue;
      auto* msg = static_cast<ifaddrmsg*>(NLMSG_DATA(h));
      if (msg->ifa_family != AF_INET && msg->ifa_family != AF_INET6) continue;
      const void* address = nullptr;
      int attrLeft = static_cast<int>(IFA_PAYLOAD(h));
      for (auto* a = IFA_RTA(msg); RTA_OK(a, attrLeft); a = RTA_NEXT(a, attrLeft)) {
        // IFA_LOCAL is the address of this end (IPv4 point-to-point); IFA_ADDRESS otherwise.
        if (a->rta_type == IFA_LOCAL || (a->rta_type == IFA_ADDRESS && address == nullptr)) address = RTA_DATA(a);
      }
      char text[INET6_ADDRSTRLEN], name[IF_NAMESIZE];
      if (address == nullptr || inet_ntop(msg->ifa_family, address, text, sizeof text) == nullptr) continue;
      if (if_indextoname(msg->ifa_index, name) == nullptr) continue;
      out.push_back(std::string(name) + " " + (msg->ifa_family == AF_INET ? "inet" : "inet6") + " " + ScopeName(msg->ifa_scope) + " " +
                    text);
    }
  }
}

// Enters the network namespace of the container's init (this process has one thread, so
// setns may) and dumps its addresses.
bool Addresses(lxc_container* c, Answer& answer, const std::string& subject) {
  pid_t init = c->init_pid(c);
  std::string path = "/proc/" + std::to_string(init) + "/ns/net";
  int ns = init > 0 ? open(path.c_str(), O_RDONLY | O_CLOEXEC) : -1;
  bool entered = ns >= 0 && setns(ns, CLONE_NEWNET) == 0;
  if (ns >= 0) close(ns);
  if (entered && DumpAddresses(answer.values)) return true;
  answer.code = "LXC_NETWORK_FAILED";
  answer.message = "cannot read the addresses of " + subject + ": " + strerror(errno);
  return false;
}

// The call itself, with the container open and its log captured. Returns false with
// code and message set in `answer` when liblxc said no.
bool Perform(lxc_container* c, const std::string& op, const std::vector<std::string>& a, const std::string& subject, Answer& answer) {
  auto fail = [&answer](const char* code, std::string message) {
    answer.code = code;
    answer.message = std::move(message);
    return false;
  };
  if (op == "addresses" && a.empty()) return Addresses(c, answer, subject);
  if (op == "add-device" && a.size() == 2) {
    if (c->add_device_node(c, a[0].c_str(), OrNull(a[1]))) return true;
    return fail("LXC_DEVICE_FAILED", "cannot add the device node " + a[0] + " to " + subject);
  }
  if (op == "remove-device" && a.size() == 2) {
    if (c->remove_device_node(c, a[0].c_str(), OrNull(a[1]))) return true;
    return fail("LXC_DEVICE_FAILED", "cannot remove the device node " + a[0] + " from " + subject);
  }
  if (op == "attach-interface" && a.size() == 2) {
    if (c->attach_interface(c, a[0].c_str(), OrNull(a[1]))) return true;
    return fail("LXC_NETWORK_FAILED", "cannot move the interface " + a[0] + " into " + subject);
  }
  if (op == "detach-interface" && a.size() == 2) {
    if (c->detach_interface(c, a[0].c_str(), OrNull(a[1]))) return true;
    return fail("LXC_NETWORK_FAILED", "cannot move the interface " + a[0] + " out of " + subject);
  }
  std::vector<char> dir(a.empty() ? 1 : a[0].size() + 1, '\0');
  if (!a.empty()) memcpy(dir.data(), a[0].c_str(), a[0].size());
  if (op == "checkpoint" && a.size() == 3) {
    if (c->checkpoint(c, dir.data(), Flag(a[1]), Flag(a[2]))) return true;
    return fail("LXC_CHECKPOINT_FAILED", "cannot checkpoint " + subject + " into " + a[0]);
  }
  if (op == "restore" && a.size() == 2) {
    if (c->restore(c, dir.data(), Flag(a[1]))) return true;
    return fail("LXC_CHECKPOINT_FAILED", "cannot restore " + subject + " from " + a[0]);
  }
  if (op == "migrate" && a.size() == 12) {
    std::vector<std::string> s = a;  // liblxc takes the strings as char*
    unsigned int cmd = s[0] == "pre-dump"  ? MIGRATE_PRE_DUMP
                       : s[0] == "dump"    ? MIGRATE_DUMP
                       : s[0] == "restore" ? MIGRATE_RESTORE
                                           : MIGRATE_FEATURE_CHECK;
    migrate_opts opts = {};
    opts.directory = s[1].data();
    opts.predump_dir = s[2].empty() ? nullptr : s[2].data();
    opts.pageserver_address = s[3].empty() ? nullptr : s[3].data();
    opts.pageserver_port = s[4].empty() ? nullptr : s[4].data();
    opts.action_script = s[5].empty() ? nullptr : s[5].data();
    opts.stop = Flag(s[6]);
    opts.verbose = Flag(s[7]);
    opts.preserves_inodes = Flag(s[8]);
    opts.disable_skip_in_flight = Flag(s[9]);
    opts.ghost_limit = strtoull(s[10].c_str(), nullptr, 10);
    opts.features_to_check = strtoull(s[11].c_str(), nullptr, 10);
    if (c->migrate(c, cmd, &opts, sizeof opts) == 0) return true;
    return fail("LXC_CHECKPOINT_FAILED", "cannot migrate (" + s[0] + ") " + subject);
  }
  return fail("LXC_INTERNAL", "lxcts-container-op: unknown operation or wrong arguments: " + op);
}

bool NeedsRunning(const std::string& op, const std::vector<std::string>& a) {
  if (op == "restore") return false;
  if (op == "migrate") return a.empty() || a[0] != "restore";
  return true;
}

int Main(int argc, char** argv) {
  Answer answer;
  if (argc < 4) {
    answer.code = "LXC_INTERNAL";
    answer.message = "lxcts-container-op: OP NAME LXCPATH ARG...";
    return Send(answer) == 0 ? 1 : 2;
  }
  std::string op = argv[1], name = argv[2], lxcpath = argv[3];
  std::vector<std::string> args(argv + 4, argv + argc);
  std::string subject = Subject(name);
  lxc_container* c = lxc_container_new(name.c_str(), OrNull(lxcpath));
  if (c == nullptr) {
    answer.code = "LXC_OPEN_FAILED";
    answer.message = "cannot open " + subject;
    return Send(answer) == 0 ? 1 : 2;
  }
  bool ok = false;
  if (!c->is_defined(c)) {
    answer.code = "LXC_NOT_DEFINED";
    answer.message = subject + " does not exist";
  } else if (NeedsRunning(op, args) && !c->is_running(c)) {
    answer.code = "LXC_NOT_RUNNING";
    answer.message = subject + " is not running";
  } else if (op == "restore" && c->is_running(c)) {
    answer.code = "LXC_ALREADY_RUNNING";
    answer.message = subject + " is already running";
  } else {
    LogCapture log;
    log.Attach(c);
    off_t mark = log.Mark();
    ok = Perform(c, op, args, subject, answer);
    if (!ok) {
      log.WaitQuiet();
      answer.details = log.Since(mark);
    }
  }
  lxc_container_put(c);
  return Send(answer) != 0 ? 2 : ok ? 0 : 1;
}

}  // namespace
}  // namespace lxcts

int main(int argc, char** argv) { return lxcts::Main(argc, argv); }
