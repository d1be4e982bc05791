#include "attach_client.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <vector>

#include "addon_data.h"
#include "args.h"
#include "attach_js.h"
#include "attach_wire.h"
#include "errors.h"
#include "spawn_helper.h"

extern char** environ;

namespace lxcts {
namespace {

Napi::Value Rejected(Napi::Env env, const std::string& name, Failure failure) {
  Napi::Promise::Deferred deferred = Napi::Promise::Deferred::New(env);
  deferred.Reject(MakeLxcError(env, "exec", name, failure));
  return deferred.Promise();
}

// One request waiting for the helper's AttachReply on its reply socket.
class PendingAttach {
 public:
  static Napi::Value Start(Napi::Env env, UniqueFd reply, AttachStdio stdio, std::string name) {
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
      return Rejected(env, name, {"LXC_EXEC_FAILED", "no event loop to read the helper's answer on", {}, false});
    }
    auto* pending = new PendingAttach(env, std::move(reply), std::move(stdio), std::move(name));
    Napi::Promise promise = pending->deferred_.Promise();
    if (uv_poll_init(loop, &pending->poll_, pending->reply_.Get()) != 0) {
      Napi::Value error = Rejected(env, pending->name_, {"LXC_EXEC_FAILED", "cannot watch the helper's answer", {}, false});
      delete pending;  // never linked into the loop; the helper sees its reply socket close
      return error;
    }
    pending->poll_.data = pending;
    // If the environment ends first (a worker terminated mid-exec), the poll is closed then;
    // the promise is left unsettled, since no JavaScript is left to see it.
    pending->teardown_ = GetAddonData(env)->teardown;
    pending->token_ = pending->teardown_->Opened([pending]() { pending->Close(); });
    if (uv_poll_start(&pending->poll_, UV_READABLE, OnReadable) != 0) {
      pending->Fail("cannot watch the helper's answer");
      pending->Close();
    }
    return promise;
  }

 private:
  PendingAttach(Napi::Env env, UniqueFd reply, AttachStdio stdio, std::string name)
      : env_(env), deferred_(Napi::Promise::Deferred::New(env)), reply_(std::move(reply)), stdio_(std::move(stdio)), name_(std::move(name)),
        context_(env, "lxcts-attach") {}

  static void OnReadable(uv_poll_t* poll, int status, int events) {
    auto* self = static_cast<PendingAttach*>(poll->data);
    std::string data;
    std::vector<UniqueFd> fds;
    ssize_t n = ReceiveWithFds(self->reply_.Get(), data, sizeof(AttachReply), fds);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;  // spurious wake-up
    // Stop watching before any JavaScript runs: the callback scope below runs the promise's
    // continuations when it ends, and they start watching this very socket for the exit
    // status (libuv refuses a second poll on a descriptor that still has an active one).
    uv_poll_stop(&self->poll_);
    // The environment may be ending (a worker terminated): Node still turns the loop while
    // it closes its own handles, before the cleanup hook closes this one, and every Napi
    // call then fails with an exception that must not escape a libuv callback. The
    // descriptors are in the teardown's record by then and are freed with it.
    try {
      Napi::HandleScope scope(self->env_);
      Napi::CallbackScope callbackScope(self->env_, self->context_);
      if (n != static_cast<ssize_t>(sizeof(AttachReply))) {
        self->Fail("the lxcts-attach helper ended before it answered");
      } else {
        AttachReply reply;
        memcpy(&reply, data.data(), sizeof reply);
        reply.code[sizeof reply.code - 1] = '\0';
        reply.message[sizeof reply.message - 1] = '\0';
        if (reply.pid > 0 && fds.size() == (self->stdio_.tty ? 2u : 1u) && self->TakeTerminal(fds)) {
          // The reply socket stays open: the helper writes the exit status to it.
          FlatRecord attached = AttachedRecord(reply.pid, fds[0].Release(), self->reply_.Release(), self->stdio_, *self->teardown_);
          self->deferred_.Resolve(ToJs(self->env_, attached));
        } else if (reply.pid > 0) {
          self->Fail("the lxcts-attach helper answered without the command's pidfd or terminal");
        } else {
          self->deferred_.Reject(MakeLxcError(self->env_, "exec", self->name_, {reply.code, reply.message, {}, false}));
        }
      }
    } catch (const Napi::Error&) {
      // Nobody is left to tell.
    }
    self->Close();
  }

  // A command on a terminal: the helper opened it and sent its master after the pidfd.
  // As OpenAttachStdio leaves it, the master is held twice, so that the two directions
  // can be closed apart.
  bool TakeTerminal(std::vector<UniqueFd>& fds) {
    if (!stdio_.tty) return true;
    stdio_.parentOut = AboveStdio(std::move(fds[1]));
    stdio_.parentIn = UniqueFd(fcntl(stdio_.parentOut.Get(), F_DUPFD_CLOEXEC, 3));
    return stdio_.parentOut.Valid() && stdio_.parentIn.Valid();
  }

  void Fail(const std::string& message) { deferred_.Reject(MakeLxcError(env_, "exec", name_, {"LXC_EXEC_FAILED", message, {}, false})); }

  void Close() {
    uv_poll_stop(&poll_);
    teardown_->Closing(token_);
    uv_close(reinterpret_cast<uv_handle_t*>(&poll_), [](uv_handle_t* handle) {
      auto* self = static_cast<PendingAttach*>(handle->data);
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
  UniqueFd reply_;     // closed with this object unless handed to JavaScript
  AttachStdio stdio_;  // the parent's ends, likewise
  std::string name_;
  Napi::AsyncContext context_;
};

}  // namespace

AttachClient::~AttachClient() { Stop(); }

void AttachClient::Stop() {
  if (watch_ != nullptr) watch_->Close();
  control_.Reset();  // the helper's idle workers read end-of-file
  if (pid_ > 0) {
    // A worker may be stuck in an attach (to a frozen container, say), and this runs when
    // the environment goes away: never wait on that. The commands themselves are separate
    // processes and keep running.
    kill(pid_, SIGKILL);
    pid_t r;
    do r = waitpid(pid_, nullptr, 0);
    while (r < 0 && errno == EINTR);
    pid_ = -1;
  }
}

bool AttachClient::Spawn() {
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) return false;
  UniqueFd ours(pair[0]);
  UniqueFd theirs(pair[1]);
  // dup2 onto the same number would leave close-on-exec set.
  if (theirs.Get() == 3) theirs = UniqueFd(fcntl(theirs.Get(), F_DUPFD_CLOEXEC, 4));
  if (!theirs.Valid()) return false;

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  // Not Node's stdio: a pipe to whoever runs Node must not stay open in the helper.
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, theirs.Get(), 3);
  // Ctrl-C in a terminal running Node must not kill the helper (the CLI forwards signals to
  // the commands itself).
  char name[] = "lxcts-attach";
  char* argv[] = {name, nullptr};
  pid_t pid = -1;
  int rc = SpawnInOwnSession(helperPath_.c_str(), argv, &actions, &pid);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return false;
  pid_ = pid;
  control_ = std::move(ours);
  // Reaped as soon as it dies, not at the next exec. It has exited by then: Stop() only
  // closes the socket its workers have gone from and collects the status.
  HelperWatch::Start(env_, pid, &watch_, [this]() { Stop(); });
  return true;
}

UniqueFd AttachClient::Send(const std::string& request, const AttachStdio& stdio) {
  if (unavailable_ || request.size() > sizeof(RequestHeader) + kMaxRequestBytes) return UniqueFd();
  for (int attempt = 0; attempt < 2; attempt++) {
    if (!control_.Valid() && !Spawn()) {
      unavailable_ = true;
      return UniqueFd();
    }
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, pair) != 0) return UniqueFd();
    UniqueFd ours(pair[0]);
    UniqueFd theirs(pair[1]);
    // A terminal is opened by the helper, in the container: only the reply socket goes.
    int fds[kRequestFds] = {theirs.Get(), stdio.childIn.Get(), stdio.ChildOut(), stdio.ChildErr()};
    if (SendWithFds(control_.Get(), request.data(), request.size(), fds, stdio.tty ? kTtyRequestFds : kRequestFds)) return ours;
    // Full (every worker busy and the queue long): the caller attaches in-process.
    if (errno != EPIPE && errno != ECONNRESET && errno != ENOTCONN) return UniqueFd();
    Stop();  // the helper died: reap it and start another
  }
  return UniqueFd();
}

Napi::Value AttachRemote(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = StringArg(info, 0, "name");
  std::string lxcpath = OptionalStringArg(info, 1, "lxcpath");
  AttachRequest request = ReadAttachRequest(info, 2);
  AttachClient* client = GetAddonData(env)->attachClient.get();
  if (client == nullptr) return env.Null();
  std::string payload = EncodeRequest(name, lxcpath, request);
  AttachStdio stdio;
  std::string error;
  stdio.tty = request.tty;  // the helper opens the terminal, in the container's devpts
  if (!request.tty && !OpenAttachStdio(nullptr, request, stdio, error)) return Rejected(env, name, {"LXC_EXEC_FAILED", error, {}, false});
  UniqueFd reply = client->Send(payload, stdio);
  if (!reply.Valid()) return env.Null();
  stdio.CloseChildEnds();  // the helper has its copies
  return PendingAttach::Start(env, std::move(reply), std::move(stdio), name);
}

Napi::Value SetAttachHelper(const Napi::CallbackInfo& info) {
  std::string path = OptionalStringArg(info, 0, "path");
  GetAddonData(info.Env())->attachClient = path.empty() ? nullptr : std::make_unique<AttachClient>(info.Env(), path);
  return info.Env().Undefined();
}

Napi::Value AttachHelperPid(const Napi::CallbackInfo& info) {
  AttachClient* client = GetAddonData(info.Env())->attachClient.get();
  pid_t pid = client == nullptr ? -1 : client->HelperPid();
  return pid > 0 ? Napi::Number::New(info.Env(), pid) : info.Env().Null();
}

}  // namespace lxcts
