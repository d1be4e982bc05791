#include "native_fd.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "addon_data.h"
#include "args.h"

namespace lxcts {
namespace {

// What a closed poll handle still needs until libuv's close callback.
struct PollBox {
  uv_poll_t poll;
  std::shared_ptr<EnvTeardown> teardown;  // told when the close is done
};

}  // namespace

Napi::Function NativeFd::Define(Napi::Env env) {
  return DefineClass(env, "NativeFd",
                     {
                         InstanceAccessor<&NativeFd::Fd>("fd"),
                         InstanceMethod<&NativeFd::Watch>("watch"),
                         InstanceMethod<&NativeFd::Stop>("stop"),
                         InstanceMethod<&NativeFd::CloseJs>("close"),
                     });
}

NativeFd::NativeFd(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeFd>(info) {
  int64_t fd = IntegerArg(info, 0, "fd");
  if (fd < 0 || fd > INT32_MAX)
    throw Napi::RangeError::New(info.Env(), "Expected a file descriptor for fd but received " + std::to_string(fd));
  if (info.Length() > 1 && info[1].IsFunction()) onReady_ = Napi::Persistent(info[1].As<Napi::Function>());
  fd_ = static_cast<int>(fd);
  if (!onReady_.IsEmpty()) {
    // Watched descriptors are read and written without blocking from the start (for a
    // terminal, the open file both directions share), before the first write finds out.
    int flags = fcntl(fd_, F_GETFL);
    if (flags < 0 || fcntl(fd_, F_SETFL, flags | O_NONBLOCK) != 0) {
      fd_ = -1;  // not ours until the constructor returns
      throw Napi::Error::New(info.Env(), std::string("cannot make descriptor ") + std::to_string(fd) + " non-blocking: " + strerror(errno));
    }
  }
  context_ = std::make_unique<Napi::AsyncContext>(info.Env(), "lxcts-fd");
  // A worker_thread that ends with the descriptor open closes it then.
  teardown_ = GetAddonData(info.Env())->teardown;
  token_ = teardown_->Opened([this]() { Close(); });
}

NativeFd::~NativeFd() {
  // Garbage-collected unclosed (the JavaScript side warns where that matters), or the
  // environment is ending: then the cleanup hook closed it already and this does nothing.
  Close();
}

void NativeFd::Unwatch() {
  if (poll_ != nullptr && watching_) uv_poll_stop(poll_);
  watching_ = false;
  if (!self_.IsEmpty()) self_.Reset();
}

void NativeFd::Close() {
  if (fd_ < 0) return;
  Unwatch();
  teardown_->Closing(token_);
  if (poll_ != nullptr) {
    // uv_close takes the descriptor out of the loop at once (only the handle's memory waits
    // for the callback), so closing the descriptor right after is safe, and synchronous:
    // the caller may count on it being closed (a container's pty slot is free again).
    uv_close(reinterpret_cast<uv_handle_t*>(poll_), [](uv_handle_t* handle) {
      auto* box = reinterpret_cast<PollBox*>(handle);
      std::shared_ptr<EnvTeardown> teardown = std::move(box->teardown);
      delete box;
      teardown->CloseDone();
    });
    poll_ = nullptr;
  } else {
    teardown_->CloseDone();
  }
  close(fd_);
  fd_ = -1;
}

Napi::Value NativeFd::Fd(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), fd_); }

Napi::Value NativeFd::Watch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (fd_ < 0) throw Napi::Error::New(env, "the descriptor is closed");
  int events = (info[0].ToBoolean().Value() ? UV_READABLE : 0) | (info[1].ToBoolean().Value() ? UV_WRITABLE : 0);
  if (events == 0) throw Napi::TypeError::New(env, "watch() needs readable, writable or both");
  if (poll_ == nullptr) {
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) throw Napi::Error::New(env, "no event loop to watch on");
    auto* box = new PollBox{};
    // Also makes the descriptor (its open file, shared with any duplicate) non-blocking.
    int rc = uv_poll_init(loop, &box->poll, fd_);
    if (rc != 0) {
      delete box;  // never linked into the loop
      throw Napi::Error::New(env, std::string("cannot watch descriptor ") + std::to_string(fd_) + ": " + uv_strerror(rc));
    }
    box->teardown = teardown_;
    poll_ = &box->poll;
    poll_->data = this;
  }
  int rc = uv_poll_start(poll_, events, OnReady);
  if (rc != 0) throw Napi::Error::New(env, std::string("cannot watch descriptor ") + std::to_string(fd_) + ": " + uv_strerror(rc));
  watching_ = true;
  if (self_.IsEmpty()) self_ = Napi::Persistent(Value());
  return env.Undefined();
}

Napi::Value NativeFd::Stop(const Napi::CallbackInfo& info) {
  Unwatch();
  return info.Env().Undefined();
}

Napi::Value NativeFd::CloseJs(const Napi::CallbackInfo& info) {
  Close();
  return info.Env().Undefined();
}

void NativeFd::OnReady(uv_poll_t* poll, int status, int events) {
  auto* self = static_cast<NativeFd*>(poll->data);
  Napi::Env env = self->Env();
  // One wake-up per watch(): JavaScript watches again when its read or write finds EAGAIN.
  // The environment may be ending (a worker terminated): every Napi call then fails with an
  // exception that must not escape a libuv callback; the cleanup hook closes the descriptor.
  try {
    Napi::HandleScope scope(env);
    Napi::Object keep = self->Value();  // self_ is dropped below; the callback still needs us
    self->Unwatch();
    if (self->onReady_.IsEmpty()) return;
    self->onReady_.MakeCallback(keep, {Napi::Number::New(env, status), Napi::Number::New(env, events)}, *self->context_);
  } catch (const Napi::Error&) {
    self->Unwatch();
  }
}

}  // namespace lxcts
