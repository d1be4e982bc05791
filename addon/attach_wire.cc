#include "attach_wire.h"

#include "attach_extras.h"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace lxcts {
namespace {

void PutString(std::string& out, const std::string& s) {
  out.append(s);
  out.push_back('\0');
}

// Reads the next NUL-terminated string at `pos`; false when the data ends first.
bool GetString(const std::string& data, size_t& pos, std::string& out) {
  size_t end = data.find('\0', pos);
  if (end == std::string::npos) return false;
  out.assign(data, pos, end - pos);
  pos = end + 1;
  return true;
}

// `count` strings at `pos`. Each takes at least its NUL: a count beyond the data is
// malformed, not an allocation.
bool GetStrings(const std::string& data, size_t& pos, uint32_t count, std::vector<std::string>& out) {
  if (count > data.size() - pos) return false;
  out.resize(count);
  for (std::string& s : out) {
    if (!GetString(data, pos, s)) return false;
  }
  return true;
}

void CopyText(char* to, size_t size, const std::string& from) {
  size_t n = std::min(size - 1, from.size());
  memcpy(to, from.data(), n);
  to[n] = '\0';
}

}  // namespace

std::string EncodeRequest(const std::string& name, const std::string& lxcpath, const AttachRequest& request) {
  RequestHeader header = {};
  header.magic = kWireMagic;
  header.flags = (request.clearEnv ? kClearEnv : 0) | (request.pipeStdin ? kPipeStdin : 0) | (request.tty ? kTty : 0) |
                 (request.remountSysProc ? kRemountSysProc : 0) | (request.elevatedPrivileges ? kElevatedPrivileges : 0) |
                 (request.program.empty() ? 0 : kProgram);
  header.uid = request.uid;
  header.gid = request.gid;
  header.cols = request.cols;
  header.rows = request.rows;
  header.argc = static_cast<uint32_t>(request.argv.size());
  header.envc = static_cast<uint32_t>(request.env.size());
  header.callerEnvc = static_cast<uint32_t>(request.callerEnv.size());
  header.personality = request.personality;
  header.namespaces = request.namespaces;
  header.groupc = static_cast<uint32_t>(request.groups.size());
  std::string out(reinterpret_cast<const char*>(&header), sizeof header);
  PutString(out, name);
  PutString(out, lxcpath);
  PutString(out, request.cwd);
  for (const std::string& arg : request.argv) PutString(out, arg);
  for (const std::string& entry : request.env) PutString(out, entry);
  for (const std::string& entry : request.callerEnv) PutString(out, entry);
  for (uint32_t gid : request.groups) PutString(out, std::to_string(gid));
  if (!request.program.empty()) PutString(out, request.program);
  return out;
}

bool DecodeRequest(const std::string& data, std::string& name, std::string& lxcpath, AttachRequest& request) {
  RequestHeader header;
  if (data.size() < sizeof header) return false;
  memcpy(&header, data.data(), sizeof header);
  if (header.magic != kWireMagic || header.argc == 0) return false;
  request.clearEnv = (header.flags & kClearEnv) != 0;
  request.pipeStdin = (header.flags & kPipeStdin) != 0;
  request.tty = (header.flags & kTty) != 0;
  request.uid = header.uid;
  request.gid = header.gid;
  request.cols = header.cols;
  request.rows = header.rows;
  request.remountSysProc = (header.flags & kRemountSysProc) != 0;
  request.elevatedPrivileges = (header.flags & kElevatedPrivileges) != 0;
  request.personality = header.personality;
  request.namespaces = header.namespaces;
  size_t pos = sizeof header;
  if (!GetString(data, pos, name) || !GetString(data, pos, lxcpath) || !GetString(data, pos, request.cwd)) return false;
  std::vector<std::string> groups;
  if (!GetStrings(data, pos, header.argc, request.argv) || !GetStrings(data, pos, header.envc, request.env) ||
      !GetStrings(data, pos, header.callerEnvc, request.callerEnv) || !GetStrings(data, pos, header.groupc, groups)) {
    return false;
  }
  if ((header.flags & kProgram) != 0 && (!GetString(data, pos, request.program) || request.program.empty())) return false;
  if (pos != data.size()) return false;
  request.groups.resize(groups.size());
  for (size_t i = 0; i < groups.size(); i++) {
    if (!ParseGid(groups[i], request.groups[i])) return false;
  }
  // Only what the addon sends: anything else is not a request of this build.
  return AttachExtrasProblem(request).empty();
}

AttachReply MakeReply(int32_t pid, const std::string& code, const std::string& message) {
  AttachReply reply = {};
  reply.pid = pid;
  CopyText(reply.code, sizeof reply.code, code);
  CopyText(reply.message, sizeof reply.message, message);
  return reply;
}

bool SendWithFds(int socket, const void* data, size_t size, const int* fds, size_t count) {
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
  do sent = sendmsg(socket, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
  while (sent < 0 && errno == EINTR);
  return sent == static_cast<ssize_t>(size);
}

ssize_t ReceiveWithFds(int socket, std::string& data, size_t capacity, std::vector<UniqueFd>& fds) {
  data.resize(capacity);
  struct iovec iov = {data.data(), capacity};
  struct msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int) * kRequestFds)];
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  do n = recvmsg(socket, &msg, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; i++) {
      int fd;
      memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      fds.emplace_back(fd);
    }
  }
  if (n < 0) return n;
  // A truncated datagram (or one with descriptors that did not fit) is not a request.
  if ((msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0) {
    errno = EMSGSIZE;
    return -1;
  }
  data.resize(static_cast<size_t>(n));
  return n;
}

}  // namespace lxcts
