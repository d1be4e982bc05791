#include "output_gather.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "addon_data.h"
#include "args.h"
#include "teardown.h"

namespace lxcts {
namespace {

// One read's size: a pipe holds 64 KiB unless resized, so one read usually empties it.
constexpr size_t kReadSize = 64 * 1024;
// The stack buffer of the first read.
constexpr size_t kFirstRead = 64 * 1024;
// A pipe that filled a whole first read is made this large: a command that writes a lot then blocks
// (and wakes this process) less often. Most commands never get there, and pay nothing for it.
constexpr int kBigPipeSize = 1024 * 1024;
// Reads per wake-up before the loop gets a turn: a fast writer cannot starve other handles.
constexpr int kReadsPerWake = 16;

}  // namespace

// A pipe's poll handle, valid until libuv's close callback (which may run after the OutputGather is
// gone); `owner` is cleared once it stops mattering.
struct OutputGather::Pipe {
  uv_poll_t poll;
  int fd = -1;
  int index = 0;
  bool grown = false;  // made kBigPipeSize
  OutputGather* owner = nullptr;
  std::shared_ptr<EnvTeardown> teardown;
  EnvTeardown::Token token = 0;

  void Close() {
    if (fd < 0) return;
    teardown->Closing(token);
    // uv_close takes the descriptor out of epoll before it returns: closing it now is safe.
    uv_close(reinterpret_cast<uv_handle_t*>(&poll), [](uv_handle_t* handle) {
      auto* pipe = reinterpret_cast<Pipe*>(handle);
      std::shared_ptr<EnvTeardown> teardown = std::move(pipe->teardown);
      delete pipe;
      teardown->CloseDone();
    });
    close(fd);
    fd = -1;
    if (owner != nullptr) owner->pipes_[index] = nullptr;
    owner = nullptr;
  }
};

Napi::Function OutputGather::Define(Napi::Env env) {
  return DefineClass(env, "OutputGather",
                     {
                         InstanceMethod<&OutputGather::Done>("done"),
                         InstanceMethod<&OutputGather::Close>("close"),
                     });
}

OutputGather::OutputGather(const Napi::CallbackInfo& info) : Napi::ObjectWrap<OutputGather>(info) {
  Napi::Env env = info.Env();
  int fds[2] = {static_cast<int>(IntegerArg(info, 0, "stdout")), static_cast<int>(IntegerArg(info, 1, "stderr"))};
  context_ = std::make_unique<Napi::AsyncContext>(env, "lxcts-output");
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
    for (int fd : fds) close(fd);
    failure_ = "no event loop to read the command's output on";
    Settle();
    return;
  }
  for (int i = 0; i < 2; i++) {
    auto* pipe = new Pipe{};
    pipe->fd = fds[i];
    pipe->index = i;
    pipe->owner = this;
    // uv_poll_init makes the descriptor non-blocking.
    if (uv_poll_init(loop, &pipe->poll, pipe->fd) != 0) {
      failure_ = std::string("cannot read the command's output: ") + strerror(errno);
      close(pipe->fd);
      delete pipe;  // never linked into the loop
      if (i == 0) close(fds[1]);
      break;
    }
    pipe->poll.data = pipe;
    pipe->teardown = GetAddonData(env)->teardown;
    pipe->token = pipe->teardown->Opened([pipe]() { pipe->Close(); });
    pipes_[i] = pipe;
    open_++;
    if (uv_poll_start(&pipe->poll, UV_READABLE, OnReadable) != 0) {
      failure_ = "cannot watch the command's output";
      if (i == 0) close(fds[1]);
      break;
    }
  }
  if (!failure_.empty()) {
    StopAll();
    Settle();
    return;
  }
  self_ = Napi::Persistent(Value());
}

OutputGather::~OutputGather() {
  // Reached once both pipes ended (self_ holds us until then), or at environment teardown.
  for (Pipe* pipe : pipes_) {
    if (pipe != nullptr) pipe->owner = nullptr;
  }
}

void OutputGather::StopAll() {
  for (Pipe* pipe : pipes_) {
    if (pipe != nullptr) pipe->Close();
  }
  open_ = 0;
}

void OutputGather::OnReadable(uv_poll_t* poll, int status, int events) {
  auto* pipe = static_cast<Pipe*>(poll->data);
  OutputGather* self = pipe->owner;
  if (self == nullptr) return;
  Napi::Env env = self->Env();
  // As NativeProcess: the environment may be ending, and no exception may leave here.
  try {
    Napi::HandleScope scope(env);
    Napi::CallbackScope callbackScope(env, *self->context_);
    self->Drain(*pipe);
  } catch (const Napi::Error&) {
    self->StopAll();
  }
}

void OutputGather::Drain(Pipe& pipe) {
  Bytes& data = data_[pipe.index];
  // Most commands write little or nothing: the first read goes to the stack, so that an empty or
  // short output allocates only its own size. Later reads go straight into the buffer, which
  // doubles (never zero-filled), so a large output is copied only by realloc.
  char first[kFirstRead];
  for (int i = 0; i < kReadsPerWake; i++) {
    char* into = first;
    size_t room = sizeof first;
    if (data.size > 0) {
      if (data.capacity - data.size < kReadSize && !data.Grow(kReadSize)) {
        failure_ = "cannot read the command's output: out of memory";
        return Finish(pipe);
      }
      into = data.bytes + data.size;
      room = data.capacity - data.size;
    }
    ssize_t n;
    do n = read(pipe.fd, into, room);
    while (n < 0 && errno == EINTR);
    if (n > 0 && into == first && !data.Append(first, static_cast<size_t>(n))) {
      failure_ = "cannot read the command's output: out of memory";
      return Finish(pipe);
    }
    if (n > 0 && into != first) data.size += static_cast<size_t>(n);
    if (n == static_cast<ssize_t>(kFirstRead) && !pipe.grown) {
      pipe.grown = true;
      // Unprivileged and over the per-user pipe budget, this fails: the pipe keeps its size.
      fcntl(pipe.fd, F_SETPIPE_SZ, kBigPipeSize);
    }
    if (n > 0) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n < 0) failure_ = std::string("cannot read the command's output: ") + strerror(errno);
    return Finish(pipe);
  }
}

void OutputGather::Finish(Pipe& pipe) {
  pipe.Close();
  open_--;
  if (!failure_.empty()) StopAll();
  if (open_ == 0) Settle();
}

void OutputGather::Settle() {
  if (finished_) return;
  finished_ = true;
  if (deferred_) Deliver();
  if (!self_.IsEmpty()) self_.Reset();  // last: this object may go once nothing holds it
}

// A Deferred's promise handle lives only in the scope that made it: done() makes it, and the
// outputs are delivered to it then (when already finished) or at the end.
void OutputGather::Deliver() {
  Napi::Env env = Env();
  std::unique_ptr<Napi::Promise::Deferred> deferred = std::move(deferred_);
  if (!failure_.empty()) {
    deferred->Reject(Napi::Error::New(env, failure_).Value());
    return;
  }
  Napi::Array both = Napi::Array::New(env, 2);
  for (uint32_t i = 0; i < 2; i++) {
    Bytes& data = data_[i];
    if (data.size < kFirstRead) {
      both.Set(i, Napi::Buffer<char>::Copy(env, data.bytes, data.size));
    } else {
      // Handed over, not copied.
      char* bytes = data.Release();
      both.Set(i, Napi::Buffer<char>::New(env, bytes, data.size, [](Napi::Env, char* b) { free(b); }));
    }
    data = Bytes{};
  }
  deferred->Resolve(both);
}

Napi::Value OutputGather::Done(const Napi::CallbackInfo& info) {
  if (delivered_) return Napi::Promise::Deferred::New(info.Env()).Promise();  // once only; never settles again
  delivered_ = true;
  deferred_ = std::make_unique<Napi::Promise::Deferred>(Napi::Promise::Deferred::New(info.Env()));
  Napi::Promise promise = deferred_->Promise();
  if (finished_) Deliver();
  return promise;
}

Napi::Value OutputGather::Close(const Napi::CallbackInfo& info) {
  if (!finished_) {
    StopAll();
    failure_ = "closed";
    Settle();
  }
  return info.Env().Undefined();
}

}  // namespace lxcts
