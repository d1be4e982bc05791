#include "monitor_state.h"

#include <lxc/lxccontainer.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

#include <cerrno>
#include <cinttypes>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

#include "args.h"
#include "errors.h"
#include "fds.h"

namespace lxcts {
namespace {

// liblxc 5's lxc_cmd_t and lxc_state_t values (commands.h, state.h).
constexpr int kCmdGetState = 3;
const char* const kStates[] = {"STOPPED", "STARTING", "RUNNING", "STOPPING", "ABORTING", "FREEZING", "FROZEN", "THAWED"};

// A monitor answers in microseconds; one that does not within this is stuck (or no monitor).
constexpr uint64_t kAnswerDeadlineMs = 5000;

struct Wire {
  int32_t first;  // request: the command; reply: ret
  uint32_t datalen;
  uint64_t data;  // reply to GET_STATE: the state, in the pointer field
};
static_assert(sizeof(Wire) == 16, "liblxc's lxc_cmd_req and lxc_cmd_rsp on 64-bit");

// lxc_make_abstract_socket_name(): "<lxcpath>/<name>/command", or, when that does not fit,
// "lxc/<FNV-1a 64 of lxcpath/name>/command".
bool SocketAddress(const std::string& lxcpath, const std::string& name, sockaddr_un& addr, socklen_t& len) {
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  char* offset = &addr.sun_path[1];
  size_t room = sizeof addr.sun_path - 2;
  int n = snprintf(offset, room, "%s/%s/command", lxcpath.c_str(), name.c_str());
  if (n < 0) return false;
  if (static_cast<size_t>(n) >= room) {
    std::string both = lxcpath + "/" + name;
    uint64_t hash = 0xcbf29ce484222325ULL;
    for (unsigned char c : both) {
      hash ^= c;
      hash *= 0x100000001b3ULL;
    }
    memset(addr.sun_path, 0, sizeof addr.sun_path);
    n = snprintf(offset, room, "lxc/%016" PRIx64 "/command", hash);
    if (n < 0 || static_cast<size_t>(n) >= room) return false;
  }
  len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + static_cast<size_t>(n));
  return true;
}

class Query {
 public:
  Query(Napi::Env env, int fd, std::string name)
      : env_(env), deferred_(Napi::Promise::Deferred::New(env)), fd_(fd), name_(std::move(name)) {
    poll_.data = this;
    timer_.data = this;
    napi_add_env_cleanup_hook(env_, OnTeardown, this);
  }

  bool Start(uv_loop_t* loop) {
    if (uv_poll_init(loop, &poll_, fd_) != 0) return false;
    uv_timer_init(loop, &timer_);  // cannot fail (libuv only links it into the loop)
    started_ = true;
    return uv_timer_start(&timer_, OnDeadline, kAnswerDeadlineMs, 0) == 0 &&
           uv_poll_start(&poll_, UV_READABLE | UV_DISCONNECT, OnReadable) == 0;
  }

  Napi::Promise Promise() const { return deferred_.Promise(); }

  // Done with the socket: the handle goes in libuv's close callback, this with it.
  void Finish() {
    napi_remove_env_cleanup_hook(env_, OnTeardown, this);
    Close();
  }

 private:
  static void OnTeardown(void* self) { static_cast<Query*>(self)->Close(); }

  void Close() {
    if (!started_) {
      close(fd_);
      delete this;
      return;
    }
    uv_poll_stop(&poll_);
    uv_timer_stop(&timer_);
    // Two handles: the second close callback (libuv runs them in order) frees this.
    uv_close(reinterpret_cast<uv_handle_t*>(&poll_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_), [](uv_handle_t* handle) { delete static_cast<Query*>(handle->data); });
    close(fd_);  // uv_close has taken it out of epoll already
  }

  // Whatever listens on the socket took the request and never answered: the call fails
  // rather than hang (liblxc's own call would hang the same way, on a pool thread).
  static void OnDeadline(uv_timer_t* timer) {
    auto* self = static_cast<Query*>(timer->data);
    Napi::Env env = self->env_;
    try {
      Napi::HandleScope scope(env);
      std::string message =
          "the monitor of container \"" + self->name_ + "\" did not answer within " + std::to_string(kAnswerDeadlineMs / 1000) + " s";
      self->deferred_.Reject(MakeLxcError(env, "state", self->name_, {"LXC_TIMEOUT", message, {}, false}));
    } catch (const Napi::Error&) {
      // The environment is ending: nobody is left to tell.
    }
    self->Finish();
  }

  static void OnReadable(uv_poll_t* poll, int status, int events) {
    auto* self = static_cast<Query*>(poll->data);
    ssize_t n;
    do n = recv(self->fd_, reinterpret_cast<char*>(&self->reply_) + self->got_, sizeof(Wire) - self->got_, MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    const char* state = "UNKNOWN";
    if (n < 0 && errno == ECONNRESET) {
      state = "STOPPED";  // as liblxc: the monitor went away under the request
    } else if (n > 0) {
      self->got_ += static_cast<size_t>(n);
      if (self->got_ < sizeof(Wire)) return;
      if (self->reply_.first >= 0 && self->reply_.data < sizeof kStates / sizeof kStates[0]) state = kStates[self->reply_.data];
    }
    Napi::Env env = self->env_;
    try {
      Napi::HandleScope scope(env);
      self->deferred_.Resolve(Napi::String::New(env, state));
    } catch (const Napi::Error&) {
      // The environment is ending: nobody is left to tell.
    }
    self->Finish();
  }

  Napi::Env env_;
  Napi::Promise::Deferred deferred_;
  int fd_;
  std::string name_;
  uv_poll_t poll_{};
  uv_timer_t timer_{};
  bool started_ = false;
  Wire reply_{};
  size_t got_ = 0;
};

bool SendRequest(int fd) {
  Wire request{kCmdGetState, 0, 0};
  iovec iov{&request, sizeof request};
  // liblxc sends its credentials with every command (lxc_abstract_unix_send_credential).
  char control[CMSG_SPACE(sizeof(ucred))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
  cmsg->cmsg_level = SOL_SOCKET;
  cmsg->cmsg_type = SCM_CREDENTIALS;
  cmsg->cmsg_len = CMSG_LEN(sizeof(ucred));
  ucred cred{getpid(), getuid(), getgid()};
  memcpy(CMSG_DATA(cmsg), &cred, sizeof cred);
  ssize_t n;
  do n = sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
  while (n < 0 && errno == EINTR);
  return n == static_cast<ssize_t>(sizeof request);
}

Napi::Value Resolved(Napi::Env env, const char* state) {
  Napi::Promise::Deferred deferred = Napi::Promise::Deferred::New(env);
  deferred.Resolve(Napi::String::New(env, state));
  return deferred.Promise();
}

}  // namespace

Napi::Value MonitorState(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string lxcpath = StringArg(info, 0, "lxcpath");
  std::string name = StringArg(info, 1, "name");
  sockaddr_un addr;
  socklen_t len;
  uv_loop_t* loop = nullptr;
  // The exchange is liblxc 5's own; another liblxc may speak another one: ask it.
  if (strncmp(lxc_get_version(), "5.", 2) != 0) return env.Null();
  if (lxcpath.empty() || !SocketAddress(lxcpath, name, addr, len) || napi_get_uv_event_loop(env, &loop) != napi_ok) return env.Null();
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.Valid()) return env.Null();
  int r;
  do r = connect(fd.Get(), reinterpret_cast<sockaddr*>(&addr), len);
  while (r < 0 && errno == EINTR);
  // No monitor listens: liblxc says STOPPED. A full backlog (EAGAIN) or anything else:
  // let liblxc ask, from a thread, as before.
  if (r < 0) return errno == ECONNREFUSED ? Resolved(env, "STOPPED") : env.Null();
  // Anyone may bind an abstract name: a monitor runs as root or as us (who started it);
  // anything else there is not this container's monitor, which then is not running (a
  // running one holds the name).
  ucred peer{};
  socklen_t peerLen = sizeof peer;
  if (getsockopt(fd.Get(), SOL_SOCKET, SO_PEERCRED, &peer, &peerLen) != 0) return env.Null();
  if (peer.uid != 0 && peer.uid != geteuid()) return Resolved(env, "STOPPED");
  if (!SendRequest(fd.Get())) return errno == EPIPE || errno == ECONNRESET ? Resolved(env, "STOPPED") : env.Null();
  auto* query = new Query(env, fd.Release(), name);
  Napi::Promise promise = query->Promise();
  if (!query->Start(loop)) {
    query->Finish();
    return env.Null();
  }
  return promise;
}

}  // namespace lxcts
