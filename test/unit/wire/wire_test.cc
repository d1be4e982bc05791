// The attach helper's wire protocol (addon/attach_wire.cc), outside Node and liblxc:
// requests survive a round trip, every malformed or truncated datagram is refused without
// reading past it (built with AddressSanitizer and UBSan), and datagrams carry their
// descriptors over a real SOCK_SEQPACKET socketpair. Prints one line per check; exits 1
// on the first failure. Run by test/unit/attach-wire.test.ts.
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "attach_wire.h"

using namespace lxcts;

namespace {

int failures = 0;

void Check(bool ok, const char* what) {
  std::printf("%s %s\n", ok ? "ok" : "FAIL", what);
  if (!ok) failures++;
}

std::mt19937 rng(12345);

// Any byte but NUL: strings travel NUL-terminated (the TypeScript side refuses NULs).
std::string RandomString(size_t max) {
  std::string s(rng() % (max + 1), 'x');
  for (char& c : s) c = static_cast<char>(1 + rng() % 255);
  return s;
}

AttachRequest RandomRequest() {
  AttachRequest r;
  r.argv.resize(1 + rng() % 8);
  for (auto& a : r.argv) a = RandomString(40);
  r.env.resize(rng() % 8);
  for (auto& e : r.env) e = RandomString(40);
  r.clearEnv = rng() % 2;
  r.callerEnv.resize(rng() % 8);
  for (auto& e : r.callerEnv) e = RandomString(40);
  r.pipeStdin = rng() % 2;
  r.tty = rng() % 2;
  r.cwd = RandomString(20);
  r.uid = static_cast<int64_t>(rng()) - 1;
  r.gid = static_cast<int64_t>(rng()) - 1;
  r.cols = static_cast<int>(rng() % 65536);
  r.rows = static_cast<int>(rng() % 65536);
  r.namespaces = rng() % 2 ? -1 : static_cast<int32_t>(0x00020000 | (rng() & 0x7e000000));
  r.personality = static_cast<int64_t>(rng() % 3 == 0 ? -1 : rng() % 2 ? 0 : 8);
  r.groups.resize(rng() % 6);
  for (auto& g : r.groups) g = static_cast<uint32_t>(rng() % 0xfffffffe);
  r.remountSysProc = rng() % 2;
  r.elevatedPrivileges = rng() % 2;
  if (rng() % 2) r.program = "/" + RandomString(20);
  return r;
}

bool Same(const AttachRequest& a, const AttachRequest& b) {
  return a.argv == b.argv && a.env == b.env && a.callerEnv == b.callerEnv && a.clearEnv == b.clearEnv && a.pipeStdin == b.pipeStdin &&
         a.tty == b.tty && a.cwd == b.cwd && a.uid == b.uid && a.gid == b.gid && a.cols == b.cols && a.rows == b.rows &&
         a.namespaces == b.namespaces && a.personality == b.personality && a.groups == b.groups && a.remountSysProc == b.remountSysProc &&
         a.elevatedPrivileges == b.elevatedPrivileges && a.program == b.program;
}

bool Decodes(const std::string& data) {
  std::string name, lxcpath;
  AttachRequest r;
  return DecodeRequest(data, name, lxcpath, r);
}

}  // namespace

int main() {
  // Round trips.
  bool all = true;
  for (int i = 0; i < 2000; i++) {
    AttachRequest in = RandomRequest();
    std::string name = RandomString(64), lxcpath = RandomString(100);
    std::string wire = EncodeRequest(name, lxcpath, in);
    std::string name2, lxcpath2;
    AttachRequest out;
    all = all && DecodeRequest(wire, name2, lxcpath2, out) && name2 == name && lxcpath2 == lxcpath && Same(in, out);
  }
  Check(all, "2000 random requests decode to what was encoded");

  AttachRequest sample;
  sample.argv = {"/bin/sh", "-c", "echo hi"};
  sample.env = {"A=1"};
  const std::string good = EncodeRequest("web", "/var/lib/lxc", sample);

  // Every truncation, and any trailing byte, is refused.
  all = true;
  for (size_t n = 0; n < good.size(); n++) all = all && !Decodes(good.substr(0, n));
  Check(all, "every truncation of a request is refused");
  Check(!Decodes(good + "x") && !Decodes(good + '\0'), "trailing bytes after the last string are refused");

  // A header that lies: wrong magic, no argv, counts far beyond the data.
  RequestHeader header;
  std::memcpy(&header, good.data(), sizeof header);
  auto withHeader = [&](RequestHeader h) {
    std::string data = good;
    std::memcpy(data.data(), &h, sizeof h);
    return data;
  };
  RequestHeader h = header;
  h.magic ^= 1;
  Check(!Decodes(withHeader(h)), "a wrong magic number (a stale helper) is refused");
  h = header;
  h.argc = 0;
  Check(!Decodes(withHeader(h)), "a request without a program is refused");
  h = header;
  h.argc = 0xffffffff;
  Check(!Decodes(withHeader(h)), "an argc of 2^32-1 is refused before anything is allocated");
  h = header;
  h.envc = 0x7fffffff;
  Check(!Decodes(withHeader(h)), "an envc far beyond the data is refused");
  h = header;
  h.callerEnvc = 0x7fffffff;
  Check(!Decodes(withHeader(h)), "a callerEnvc far beyond the data is refused");
  h = header;
  h.groupc = 0x7fffffff;
  Check(!Decodes(withHeader(h)), "a groupc far beyond the data is refused");
  h = header;
  h.namespaces = 0x00000100;  // CLONE_FS: not a namespace
  Check(!Decodes(withHeader(h)), "a namespace mask with a flag that is not a namespace is refused");
  h = header;
  h.namespaces = 0;
  Check(!Decodes(withHeader(h)), "an empty namespace mask is refused");
  h = header;
  h.personality = 0x0400000;  // READ_IMPLIES_EXEC
  Check(!Decodes(withHeader(h)), "a personality other than linux or linux32 is refused");
  {
    AttachRequest g = sample;
    g.groups = {5};
    std::string withGroup = EncodeRequest("web", "/var/lib/lxc", g);
    std::string bad = withGroup.substr(0, withGroup.size() - 2) + "x";
    bad.push_back('\0');
    Check(!Decodes(bad), "a group id that is not a decimal number is refused");
    Check(!Decodes(withGroup.substr(0, withGroup.size() - 2) + "4294967295" + '\0'), "the group id 2^32-1 (no group) is refused");
    Check(Decodes(withGroup), "a request with a group decodes");
  }
  std::string noNul = good.substr(0, sizeof header) + std::string(100, 'A');
  Check(!Decodes(noNul), "strings without their NUL are refused");

  // Random mutations of a valid request: decoded or refused, never read out of bounds.
  for (int i = 0; i < 200000; i++) {
    std::string data = good;
    for (int k = 1 + rng() % 4; k > 0; k--) data[rng() % data.size()] = static_cast<char>(rng());
    if (rng() % 4 == 0) data.resize(rng() % (data.size() + 1));
    Decodes(data);
  }
  for (int i = 0; i < 50000; i++) {
    std::string data(rng() % 200, '\0');
    for (char& c : data) c = static_cast<char>(rng());
    Decodes(data);
  }
  Check(true, "250000 mutated and random datagrams decoded or refused without a fault");

  // Replies: long text is cut and NUL-terminated.
  AttachReply reply = MakeReply(-1, std::string(100, 'C'), std::string(1000, 'm'));
  Check(reply.pid == -1 && std::strlen(reply.code) == sizeof reply.code - 1 && std::strlen(reply.message) == sizeof reply.message - 1,
        "reply code and message are cut to their fields, NUL-terminated");

  // Datagrams with descriptors over a SOCK_SEQPACKET pair, as between addon and helper.
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) return std::perror("socketpair"), 1;
  int pipes[2][2];
  if (pipe(pipes[0]) != 0 || pipe(pipes[1]) != 0) return std::perror("pipe"), 1;
  int fds[kRequestFds] = {pipes[0][0], pipes[0][1], pipes[1][0], pipes[1][1]};
  Check(SendWithFds(pair[0], good.data(), good.size(), fds, kRequestFds), "a request is sent with four descriptors");
  std::string received;
  std::vector<UniqueFd> got;
  ssize_t n = ReceiveWithFds(pair[1], received, kMaxRequestBytes, got);
  bool cloexec = got.size() == kRequestFds;
  for (auto& fd : got) cloexec = cloexec && (fcntl(fd.Get(), F_GETFD) & FD_CLOEXEC);
  Check(n == static_cast<ssize_t>(good.size()) && received == good && Decodes(received), "it arrives whole and decodes");
  Check(cloexec, "the four descriptors arrive, close-on-exec");
  if (got.size() == kRequestFds) {
    Check(write(got[1].Get(), "z", 1) == 1, "a received pipe end works");
    char c = 0;
    Check(read(pipes[0][0], &c, 1) == 1 && c == 'z', "it is the same pipe");
  }

  std::string big(1000, 'b');
  Check(SendWithFds(pair[0], big.data(), big.size(), nullptr, 0), "a datagram larger than the reader's buffer is sent");
  got.clear();
  errno = 0;
  n = ReceiveWithFds(pair[1], received, 100, got);
  Check(n == -1 && errno == EMSGSIZE, "and refused as truncated (EMSGSIZE), not taken as a shorter request");

  int tooMany[kRequestFds + 4];
  for (int& fd : tooMany) fd = pipes[1][0];
  Check(SendWithFds(pair[0], good.data(), good.size(), tooMany, kRequestFds + 4), "a request with too many descriptors is sent");
  got.clear();
  n = ReceiveWithFds(pair[1], received, kMaxRequestBytes, got);
  Check(n == -1 && errno == EMSGSIZE, "and refused (descriptors cut off), the ones that came closed with it");

  close(pair[0]);
  got.clear();
  Check(ReceiveWithFds(pair[1], received, kMaxRequestBytes, got) == 0, "end-of-file when the other end closes");

  std::printf("%d failed\n", failures);
  return failures == 0 ? 0 : 1;
}
