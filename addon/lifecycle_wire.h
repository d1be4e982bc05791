// What the addon (lifecycle_client.cc) and the resident lxcts-lifecycle server
// (lifecycle_server.cc) say to each other.
//
// One request is one datagram on the server's control socket (SOCK_SEQPACKET):
//   RequestHead, then NUL-terminated strings: the caller's cwd, `argc` arguments (as the
//   one-shot helper takes them: PARENT_PID OP NAME LXCPATH ARG...), `envc` environment
//   entries;
//   descriptors: the reply socket, the answer memfd, then the config memfd (hasConfig),
//   then stdout and stderr (hasOutput).
// On the reply socket the call's process (the server's spare that took the request, see
// lifecycle_server.cc) sends a Report with kind kForked (value: its pid) once the server
// holds a copy of the reply socket; the server sends one with kind kExited (value: its
// wait status) when that process has ended, and closes it. The call's process also sends
// one with kind kAnswered as soon as its answer is written (it then only exits): the
// addon goes on at once, without waiting for that exit.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "fds.h"

namespace lxcts {

struct LifecycleRequestHead {
  uint32_t argc;
  uint32_t envc;
  uint8_t hasConfig;
  uint8_t hasOutput;
};

struct LifecycleReport {
  enum Kind : int32_t { kForked = 1, kExited = 2, kAnswered = 3 };
  int32_t kind;
  int32_t value;
};

// The largest request: a request that does not fit goes the old way (a helper per call).
constexpr size_t kMaxLifecycleRequest = 128 * 1024;
constexpr size_t kMaxLifecycleFds = 5;
// Where the call's process has its reply socket (close-on-exec: not in a template or rsync).
constexpr int kLifecycleReplyFd = 5;

// One datagram with `fds` attached; false with errno set when it was not sent whole.
inline bool SendDatagram(int socket, const void* data, size_t size, const int* fds, size_t count) {
  struct iovec iov = {const_cast<void*>(data), size};
  struct msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  std::vector<char> control(CMSG_SPACE(sizeof(int) * count));
  if (count > 0) {
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    struct cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int) * count);
    memcpy(CMSG_DATA(cmsg), fds, sizeof(int) * count);
  }
  ssize_t sent;
  do sent = sendmsg(socket, &msg, MSG_NOSIGNAL);
  while (sent < 0 && errno == EINTR);
  return sent == static_cast<ssize_t>(size);
}

// One datagram into `data` (resized to what arrived) and the descriptors that came with
// it, close-on-exec. Returns the byte count, 0 at end-of-file, -1 with errno set.
inline ssize_t ReceiveDatagram(int socket, std::string& data, size_t capacity, std::vector<UniqueFd>& fds) {
  data.resize(capacity);
  struct iovec iov = {data.data(), capacity};
  struct msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxLifecycleFds)];
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  do n = recvmsg(socket, &msg, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  // A failed recvmsg leaves the control buffer as it was: nothing in it is ours to close.
  if (n < 0) {
    data.clear();
    return -1;
  }
  for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; i++) {
      int fd;
      memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      fds.emplace_back(fd);
    }
  }
  // A datagram cut short, or descriptors dropped for want of room: not a request.
  if (n > 0 && (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0) {
    errno = EMSGSIZE;
    return -1;
  }
  data.resize(n > 0 ? static_cast<size_t>(n) : 0);
  return n;
}

}  // namespace lxcts
