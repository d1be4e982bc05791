// What the host and lxcts-resident (addon/resident_program.cc) say to each other.
//
// The resident runs inside the container, so everything it sends is untrusted: the host
// (addon/resident_client.cc) checks every size, count and value before it uses one.
//
// Connection: the resident makes a SOCK_SEQPACKET socketpair and writes
// "lxcts-resident <fd>\n" on its stdout; the host copies that end with pidfd_getfd() and
// sends kHello on it, after which the resident closes its copy (so it reads end-of-file
// when the host closes the connection, and exits).
//
// One command: the host sends a RequestHeader and its strings in one message, with four
// descriptors (SCM_RIGHTS): the command's status socket (a SOCK_SEQPACKET socketpair end),
// its stdin, stdout and stderr. On the status socket the resident answers a StartReply
// with the command's pidfd (or none, with an errno, when fork failed); the host reads the
// pidfd's fdinfo, then sends kAck, and only then may the resident reap the command (so the
// pid is still the command's while the host checks it); at its exit the resident sends an
// ExitReport, laid out as attach_wire.h's (NativeProcess reads it), and closes the socket.
#pragma once

#include <cstdint>

namespace lxcts {
namespace resident {

constexpr uint32_t kHello = 0x6c78726f;    // "orxl"
constexpr uint32_t kRequest = 0x6c787271;  // "qrxl"
constexpr uint32_t kStarted = 0x6c787273;  // "srxl"
constexpr uint8_t kAck = 'a';

// Bigger requests go the normal way (through liblxc's attach): one message, one buffer.
constexpr uint32_t kMaxRequest = 64 * 1024;
constexpr int kRequestFds = 4;  // status socket, stdin, stdout, stderr

struct RequestHeader {
  uint32_t magic;  // kRequest
  int32_t uid;     // -1: the resident's own (what liblxc's attach gives)
  int32_t gid;
  uint32_t argc;  // strings follow, each ended by NUL: cwd, argv[argc], env[envc]
  uint32_t envc;
};

struct StartReply {
  uint32_t magic;  // kStarted
  int32_t pid;     // in the container's pid namespace; 0 when fork failed
  int32_t error;   // errno of the failed fork; 0 with a pidfd attached
};

struct ExitReport {
  int32_t exitCode;  // -1 when a signal ended the command
  int32_t signal;    // 0 when it exited
};

}  // namespace resident
}  // namespace lxcts
