// The protocol between the addon (attach_client.cc) and the lxcts-attach helper
// (attach_server.cc).
//
// One SOCK_SEQPACKET control socket joins the two; the helper's end is its fd 3. Per
// command, the addon makes a SOCK_SEQPACKET socketpair and sends one end along with the
// request, so that each command has its own channel and no reply is ever matched up:
//
//   control: RequestHeader + strings      fds: reply socket, stdin, stdout, stderr
//   reply:   AttachReply                  fd:  the command's pidfd, when it started
//   reply:   ExitReport                   once the helper has reaped the command
//
// A command on a terminal (kTty) has no stdio to send: the helper opens the terminal, in
// the container's devpts (see OpenAttachStdio), so the request carries the reply socket
// only and the AttachReply brings the terminal's master after the pidfd.
//
// The helper then closes its end. Both ends run the same build, so there is no
// versioning beyond a magic number that catches a stale helper binary.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "attach_command.h"
#include "fds.h"

namespace lxcts {

constexpr uint32_t kWireMagic = 0x6c787435;  // "lxt5": the header grew (attach options)
// Above this, the addon attaches in-process instead: a datagram must fit the socket buffer.
constexpr size_t kMaxRequestBytes = 64 * 1024;
constexpr size_t kRequestFds = 4;
constexpr size_t kTtyRequestFds = 1;

struct RequestHeader {
  uint32_t magic;
  uint32_t flags;
  int64_t uid;
  int64_t gid;
  int32_t cols;
  int32_t rows;
  uint32_t argc;
  uint32_t envc;
  uint32_t callerEnvc;
  uint32_t unused;  // spelled out, so that the header has no padding of the compiler's
  // Attach options (attach_extras.h), appended so that the fields above keep their places.
  int64_t personality;
  int32_t namespaces;
  uint32_t groupc;
  // Followed by NUL-terminated strings: name, lxcpath ("" for liblxc's default), cwd,
  // argv[argc], env[envc], callerEnv[callerEnvc], then groups[groupc] in decimal.
};

// RequestHeader.flags
constexpr uint32_t kClearEnv = 1;
constexpr uint32_t kPipeStdin = 2;
constexpr uint32_t kTty = 4;
constexpr uint32_t kRemountSysProc = 1u << 8;
constexpr uint32_t kElevatedPrivileges = 1u << 9;
// The request's program (AttachRequest::program) follows the other strings.
constexpr uint32_t kProgram = 8;

// How many descriptors a request comes with.
inline size_t RequestFdsFor(const AttachRequest& request) { return request.tty ? kTtyRequestFds : kRequestFds; }

struct AttachReply {
  int32_t pid;  // > 0: the command runs and its pidfd came with this; otherwise code and message say why
  char code[32];
  char message[480];
};

struct ExitReport {
  int32_t exitCode;  // -1 when a signal ended the command
  int32_t signal;    // 0 when it exited
};

std::string EncodeRequest(const std::string& name, const std::string& lxcpath, const AttachRequest& request);
bool DecodeRequest(const std::string& data, std::string& name, std::string& lxcpath, AttachRequest& request);

AttachReply MakeReply(int32_t pid, const std::string& code, const std::string& message);

// One datagram with `fds` attached; false with errno set when it was not sent whole.
bool SendWithFds(int socket, const void* data, size_t size, const int* fds, size_t count);
// One datagram into `data` (resized to what arrived) and the descriptors that came with
// it, close-on-exec. Returns the byte count, 0 at end-of-file, -1 with errno set.
ssize_t ReceiveWithFds(int socket, std::string& data, size_t capacity, std::vector<UniqueFd>& fds);

}  // namespace lxcts
