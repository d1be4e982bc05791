#include "resident_client.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <uv.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "addon_data.h"
#include "args.h"
#include "attach_js.h"
#include "attach_wire.h"
#include "errors.h"
#include "resident_wire.h"

namespace lxcts {
namespace {

static_assert(sizeof(resident::ExitReport) == sizeof(ExitReport), "NativeProcess reads the resident's exit report as the helper's");
static_assert(offsetof(resident::ExitReport, signal) == offsetof(ExitReport, signal), "same layout as attach_wire.h's");

Napi::Value Rejected(Napi::Env env, const std::string& name, const std::string& code, const std::string& message) {
  Napi::Promise::Deferred deferred = Napi::Promise::Deferred::New(env);
  deferred.Reject(MakeLxcError(env, "exec", name, {code, message, {}, false}));
  return deferred.Promise();
}

// The pid namespaces a process is in, counted from the host's: its NSpid line's length.
// `nspid` receives the pids, the host's first; `pid` (when given) the Pid line's.
bool ReadNsPids(const std::string& file, std::vector<int64_t>& nspid, int64_t* pid) {
  UniqueFd in(open(file.c_str(), O_RDONLY | O_CLOEXEC));
  char text[4096];
  ssize_t n = in.Valid() ? read(in.Get(), text, sizeof text - 1) : -1;
  if (n <= 0) return false;
  text[n] = '\0';
  for (char* line = text; line != nullptr && *line != '\0';) {
    char* next = strchr(line, '\n');
    if (next != nullptr) *next++ = '\0';
    if (pid != nullptr && strncmp(line, "Pid:", 4) == 0) *pid = strtoll(line + 4, nullptr, 10);
    if (strncmp(line, "NSpid:", 6) == 0) {
      char* at = line + 6;
      for (;;) {
        char* end = nullptr;
        long long value = strtoll(at, &end, 10);
        if (end == at) break;
        nspid.push_back(value);
        at = end;
      }
    }
    line = next;
  }
  return !nspid.empty();
}

// The command's pid as the host sees it, when `fd` is a pidfd of a process in the resident's
// pid namespace (as deep as the resident's, ending in the pid the resident named); -1
// otherwise. The resident is the container's: anything it sends is checked.
int64_t CheckedCommandPid(int fd, size_t depth, int32_t reportedPid) {
  char link[64];
  std::string self = "/proc/self/fd/" + std::to_string(fd);
  ssize_t n = readlink(self.c_str(), link, sizeof link - 1);
  if (n <= 0) return -1;
  link[n] = '\0';
  if (strcmp(link, "anon_inode:[pidfd]") != 0) return -1;
  std::vector<int64_t> nspid;
  int64_t pid = -1;
  if (!ReadNsPids("/proc/self/fdinfo/" + std::to_string(fd), nspid, &pid)) return -1;
  if (pid <= 0 || nspid.size() != depth || nspid.front() != pid || nspid.back() != reportedPid) return -1;
  return pid;
}

// One command waiting for the resident's StartReply on its status socket (read when libuv
// sees it arrive, as attach_client.cc reads the helper's answer).
class PendingStart {
 public:
  static Napi::Value Start(Napi::Env env, UniqueFd status, AttachStdio stdio, std::string name, size_t depth) {
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
      return Rejected(env, name, "LXC_EXEC_FAILED", "no event loop to read the resident process's answer on");
    }
    auto* pending = new PendingStart(env, std::move(status), std::move(stdio), std::move(name), depth);
    Napi::Promise promise = pending->deferred_.Promise();
    if (uv_poll_init(loop, &pending->poll_, pending->status_.Get()) != 0) {
      Napi::Value error = Rejected(env, pending->name_, "LXC_EXEC_FAILED", "cannot watch the resident process's answer");
      delete pending;
      return error;
    }
    pending->poll_.data = pending;
    pending->teardown_ = GetAddonData(env)->teardown;
    pending->token_ = pending->teardown_->Opened([pending]() { pending->Close(); });
    if (uv_poll_start(&pending->poll_, UV_READABLE, OnReadable) != 0) {
      pending->Fail("cannot watch the resident process's answer");
      pending->Close();
    }
    return promise;
  }

 private:
  PendingStart(Napi::Env env, UniqueFd status, AttachStdio stdio, std::string name, size_t depth)
      : env_(env), deferred_(Napi::Promise::Deferred::New(env)), status_(std::move(status)), stdio_(std::move(stdio)),
        name_(std::move(name)), depth_(depth), context_(env, "lxcts-resident") {}

  static void OnReadable(uv_poll_t* poll, int status, int events) {
    auto* self = static_cast<PendingStart*>(poll->data);
    std::string data;
    std::vector<UniqueFd> fds;
    ssize_t n = ReceiveWithFds(self->status_.Get(), data, sizeof(resident::StartReply), fds);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;  // spurious wake-up
    uv_poll_stop(&self->poll_);                                      // before JavaScript runs: NativeProcess watches this socket next
    try {
      Napi::HandleScope scope(self->env_);
      Napi::CallbackScope callbackScope(self->env_, self->context_);
      self->Answer(n, data, fds);
    } catch (const Napi::Error&) {
      // Nobody is left to tell.
    }
    self->Close();
  }

  void Answer(ssize_t n, const std::string& data, std::vector<UniqueFd>& fds) {
    if (n == 0) return Fail("the resident process ended before it started the command");
    resident::StartReply reply;
    if (n != static_cast<ssize_t>(sizeof reply)) return Fail("the resident process sent an answer of the wrong size");
    memcpy(&reply, data.data(), sizeof reply);
    if (reply.magic != resident::kStarted) return Fail("the resident process sent something other than an answer");
    if (reply.error != 0 || fds.empty()) {
      int error = reply.error > 0 && reply.error < 4096 ? reply.error : EPROTO;
      return Fail(std::string("the resident process could not start the command: ") + strerror(error));
    }
    int64_t pid = fds.size() == 1 && reply.pid > 0 ? CheckedCommandPid(fds[0].Get(), depth_, reply.pid) : -1;
    if (pid <= 0) return Fail("the resident process answered with something other than the command's pidfd");
    // The host has checked the pid: the resident may reap the command from now on.
    char ack = resident::kAck;
    ssize_t sent;
    do sent = send(status_.Get(), &ack, 1, MSG_NOSIGNAL | MSG_DONTWAIT);
    while (sent < 0 && errno == EINTR);
    FlatRecord attached = AttachedRecord(static_cast<pid_t>(pid), fds[0].Release(), status_.Release(), stdio_, *teardown_);
    deferred_.Resolve(ToJs(env_, attached));
  }

  void Fail(const std::string& message) { deferred_.Reject(MakeLxcError(env_, "exec", name_, {"LXC_EXEC_FAILED", message, {}, false})); }

  void Close() {
    uv_poll_stop(&poll_);
    teardown_->Closing(token_);
    uv_close(reinterpret_cast<uv_handle_t*>(&poll_), [](uv_handle_t* handle) {
      auto* self = static_cast<PendingStart*>(handle->data);
      std::shared_ptr<EnvTeardown> teardown = std::move(self->teardown_);
      delete self;
      teardown->CloseDone();
    });
  }

  uv_poll_t poll_;
  std::shared_ptr<EnvTeardown> teardown_;
  EnvTeardown::Token token_ = 0;
  Napi::Env env_;
  Napi::Promise::Deferred deferred_;
  UniqueFd status_;    // closed with this object unless handed to JavaScript
  AttachStdio stdio_;  // the parent's ends, likewise
  std::string name_;
  size_t depth_;
  Napi::AsyncContext context_;
};

// What the resident cannot do as liblxc's attach would: those requests take the normal path.
bool ResidentCanRun(const AttachRequest& request) {
  return !request.tty && request.clearEnv && request.callerEnv.empty() && request.program.empty() && request.namespaces == -1 &&
         request.personality == -1 && request.groups.empty() && !request.remountSysProc && !request.elevatedPrivileges;
}

std::string EncodeRequest(const AttachRequest& request) {
  resident::RequestHeader header = {resident::kRequest, static_cast<int32_t>(request.uid), static_cast<int32_t>(request.gid),
                                    static_cast<uint32_t>(request.argv.size()), static_cast<uint32_t>(request.env.size())};
  std::string data(reinterpret_cast<const char*>(&header), sizeof header);
  data.append(request.cwd.empty() ? "/" : request.cwd).push_back('\0');
  for (const std::string& a : request.argv) data.append(a).push_back('\0');
  for (const std::string& e : request.env) data.append(e).push_back('\0');
  return data;
}

}  // namespace

Napi::Value ResidentConnect(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int pidfd = static_cast<int>(IntegerArg(info, 0, "pidfd"));
  int target = static_cast<int>(IntegerArg(info, 1, "fd"));
  int64_t pid = IntegerArg(info, 2, "pid");
  auto fail = [&](const std::string& what) -> Napi::Value {
    throw Napi::Error::New(env,
                           "cannot connect to the resident process: " + what + (errno != 0 ? std::string(": ") + strerror(errno) : ""));
  };
  errno = 0;
  UniqueFd opened;  // pidfd -1: one of our own, from the pid (a resident that is no helper's child: tests)
  if (pidfd < 0) {
    opened = UniqueFd(static_cast<int>(syscall(SYS_pidfd_open, static_cast<pid_t>(pid), 0)));
    if (!opened.Valid()) return fail("pidfd_open");
    pidfd = opened.Get();
  }
  // A copy of the resident's end of its socketpair; close-on-exec, as pidfd_getfd() makes it.
  UniqueFd socket(static_cast<int>(syscall(SYS_pidfd_getfd, pidfd, target, 0)));
  if (!socket.Valid()) return fail("pidfd_getfd");
  socket = AboveStdio(std::move(socket));
  int type = 0, domain = 0;
  socklen_t size = sizeof type;
  struct stat st;
  if (fstat(socket.Get(), &st) != 0 || !S_ISSOCK(st.st_mode) || getsockopt(socket.Get(), SOL_SOCKET, SO_TYPE, &type, &size) != 0 ||
      type != SOCK_SEQPACKET || (size = sizeof domain, getsockopt(socket.Get(), SOL_SOCKET, SO_DOMAIN, &domain, &size)) != 0 ||
      domain != AF_UNIX) {
    errno = 0;
    return fail("it named something other than a unix seqpacket socket");
  }
  std::vector<int64_t> nspid;
  if (!ReadNsPids("/proc/" + std::to_string(pid) + "/status", nspid, nullptr)) return fail("cannot read its pid namespaces");
  uint32_t hello = resident::kHello;
  if (!SendWithFds(socket.Get(), &hello, sizeof hello, nullptr, 0)) return fail("cannot greet it");
  Napi::Object result = Napi::Object::New(env);
  result.Set("depth", Napi::Number::New(env, static_cast<double>(nspid.size())));
  result.Set("fd", Napi::Number::New(env, socket.Release()));
  return result;
}

Napi::Value ResidentExec(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int connection = static_cast<int>(IntegerArg(info, 0, "fd"));
  size_t depth = static_cast<size_t>(IntegerArg(info, 1, "depth"));
  std::string name = StringArg(info, 2, "name");
  AttachRequest request = ReadAttachRequest(info, 3);
  if (!ResidentCanRun(request)) return env.Null();
  std::string payload = EncodeRequest(request);
  if (payload.size() > resident::kMaxRequest || request.uid > INT32_MAX || request.gid > INT32_MAX) return env.Null();
  AttachStdio stdio;
  std::string error;
  if (!OpenAttachStdio(nullptr, request, stdio, error)) return Rejected(env, name, "LXC_EXEC_FAILED", error);
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) {
    return Rejected(env, name, "LXC_EXEC_FAILED", std::string("cannot create a socket: ") + strerror(errno));
  }
  UniqueFd ours = AboveStdio(UniqueFd(pair[0]));
  UniqueFd theirs(pair[1]);
  // Ours only: the resident's end stays as a socket normally is.
  if (!ours.Valid() || fcntl(ours.Get(), F_SETFL, O_NONBLOCK) != 0) {
    return Rejected(env, name, "LXC_EXEC_FAILED", std::string("cannot set up a socket: ") + strerror(errno));
  }
  int fds[resident::kRequestFds] = {theirs.Get(), stdio.childIn.Get(), stdio.childOut.Get(), stdio.childErr.Get()};
  if (!SendWithFds(connection, payload.data(), payload.size(), fds, resident::kRequestFds)) {
    // Not sent: the resident is gone (a stopped container), or its socket is full.
    bool gone = errno == EPIPE || errno == ECONNRESET || errno == ENOTCONN || errno == EBADF;
    return gone ? Napi::String::New(env, "gone") : env.Null();
  }
  stdio.CloseChildEnds();  // the resident has its copies
  return PendingStart::Start(env, std::move(ours), std::move(stdio), name, depth);
}

}  // namespace lxcts
