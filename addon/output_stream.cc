#include "output_stream.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

#include "addon_data.h"
#include "args.h"

namespace lxcts {
namespace {

// What JavaScript gets at most per call: libuv's (and so a net.Socket's) read size.
constexpr size_t kChunk = 64 * 1024;
// How long output that has not filled a chunk may wait. libuv's timers count milliseconds,
// so it is delivered 1 to 2 ms after its first byte arrived.
constexpr uint64_t kFlushMs = 1;
// A pipe that filled a whole chunk is made this large (as exec's, output_gather.cc): a command
// that writes a lot blocks less often while JavaScript handles a chunk.
constexpr int kBigPipeSize = 1024 * 1024;
// Reads per wake-up before the loop gets a turn: a fast writer cannot starve other handles.
constexpr int kReadsPerWake = 16;
// Marks our objects, so that a sibling given to the constructor is known to be an OutputStream.
constexpr napi_type_tag kOutputStreamTag = {0x6c7863747330757fULL, 0x7470757473747265ULL};

}  // namespace

// The poll and flush timer of one descriptor, freed once libuv has closed both (which may be
// after the OutputStream is gone).
struct OutputStream::Handles {
  uv_poll_t poll;
  uv_timer_t timer;
  OutputStream* owner = nullptr;
  int open = 2;
  std::shared_ptr<EnvTeardown> teardown;

  static void Closed(uv_handle_t* handle) {
    auto* handles = static_cast<Handles*>(handle->data);
    if (--handles->open > 0) return;
    std::shared_ptr<EnvTeardown> teardown = std::move(handles->teardown);
    delete handles;
    teardown->CloseDone();
  }
};

Napi::Function OutputStream::Define(Napi::Env env) {
  return DefineClass(env, "OutputStream",
                     {
                         InstanceMethod<&OutputStream::Resume>("resume"),
                         InstanceMethod<&OutputStream::Pause>("pause"),
                         InstanceMethod<&OutputStream::Close>("close"),
                     });
}

OutputStream::OutputStream(const Napi::CallbackInfo& info) : Napi::ObjectWrap<OutputStream>(info) {
  Napi::Env env = info.Env();
  int64_t fd = IntegerArg(info, 0, "fd");
  if (fd < 0 || fd > INT32_MAX) throw Napi::RangeError::New(env, "Expected a file descriptor for fd but received " + std::to_string(fd));
  if (!info[1].IsFunction()) {
    close(static_cast<int>(fd));
    throw Napi::TypeError::New(env, "Expected a function for onData");
  }
  OutputStream* sibling = nullptr;
  if (info.Length() > 2 && !info[2].IsUndefined()) {
    bool tagged = false;
    if (info[2].IsObject()) napi_check_object_type_tag(env, info[2], &kOutputStreamTag, &tagged);
    if (tagged) sibling = Unwrap(info[2].As<Napi::Object>());
    if (sibling == nullptr || sibling->fd_ < 0 || sibling->sibling_ != nullptr) {
      close(static_cast<int>(fd));
      throw Napi::TypeError::New(env, "Expected an open OutputStream of no other pair for sibling");
    }
  }
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
    close(static_cast<int>(fd));
    throw Napi::Error::New(env, "no event loop to read the command's output on");
  }
  auto* handles = new Handles{};
  // uv_poll_init makes the descriptor non-blocking.
  int rc = uv_poll_init(loop, &handles->poll, static_cast<int>(fd));
  if (rc != 0) {
    delete handles;  // never linked into the loop
    close(static_cast<int>(fd));
    throw Napi::Error::New(env, std::string("cannot read the command's output: ") + uv_strerror(rc));
  }
  uv_timer_init(loop, &handles->timer);
  handles->poll.data = handles;
  handles->timer.data = handles;
  handles->owner = this;
  handles_ = handles;
  fd_ = static_cast<int>(fd);
  onData_ = Napi::Persistent(info[1].As<Napi::Function>());
  context_ = std::make_unique<Napi::AsyncContext>(env, "lxcts-output");
  teardown_ = GetAddonData(env)->teardown;
  handles->teardown = teardown_;
  token_ = teardown_->Opened([this]() { CloseHandles(); });
  self_ = Napi::Persistent(Value());
  napi_type_tag_object(env, Value(), &kOutputStreamTag);
  if (sibling != nullptr) {
    sibling_ = sibling;
    sibling->sibling_ = this;
  }
}

OutputStream::~OutputStream() {
  // Reached once closed (self_ holds us until then), or at environment teardown, which closed
  // the handles already.
  CloseHandles();
}

void OutputStream::CloseHandles() {
  if (fd_ < 0) return;
  teardown_->Closing(token_);
  // Each holds the other only while both are open (self_ keeps an open one alive).
  if (sibling_ != nullptr) {
    sibling_->sibling_ = nullptr;
    sibling_ = nullptr;
  }
  Handles* handles = handles_;
  handles_ = nullptr;
  handles->owner = nullptr;
  // uv_close takes the descriptor out of epoll before it returns: closing it now is safe.
  uv_close(reinterpret_cast<uv_handle_t*>(&handles->poll), Handles::Closed);
  uv_close(reinterpret_cast<uv_handle_t*>(&handles->timer), Handles::Closed);
  close(fd_);
  fd_ = -1;
  if (!chunk_.IsEmpty()) chunk_.Reset();
  data_ = nullptr;
  size_ = 0;
  reading_ = false;
  sleeping_ = false;
  timerArmed_ = false;
  // The callback holds the stream that holds this object: kept, the pair would never be collected.
  if (!onData_.IsEmpty()) onData_.Reset();
  if (!self_.IsEmpty()) self_.Reset();  // last: this object may go once nothing holds it
}

template <typename Body>
void OutputStream::FromLoop(Body body) {
  Napi::Env env = Env();
  // As NativeProcess: the environment may be ending, and no exception may leave here.
  try {
    Napi::HandleScope scope(env);
    [[maybe_unused]] Napi::Object keep = Value();  // the callback may close us, which drops self_
    body();
  } catch (const Napi::Error& e) {
    try {
      Napi::HandleScope scope(env);
      if (teardown_->Ending()->load()) {
        CloseHandles();
        return;
      }
      // Thrown by JavaScript (a 'data' listener): uncaught, as it would be from a net.Socket.
      napi_fatal_exception(env, e.Value());
    } catch (const Napi::Error&) {
      CloseHandles();
    }
  }
}

void OutputStream::OnReadable(uv_poll_t* poll, int status, int events) {
  OutputStream* self = static_cast<Handles*>(poll->data)->owner;
  if (self == nullptr) return;
  self->FromLoop([self, status]() {
    if (status < 0) return self->End(status);
    // Asleep, this is the end of the output (the writer closed the pipe): read it now.
    if (self->sleeping_) self->WakeUp();
    self->Drain();
  });
}

void OutputStream::OnFlush(uv_timer_t* timer) {
  OutputStream* self = static_cast<Handles*>(timer->data)->owner;
  if (self == nullptr) return;
  self->timerArmed_ = false;
  self->FromLoop([self]() {
    if (!self->sleeping_) return static_cast<void>(self->Deliver(false));
    self->WakeUp();
    self->Drain();
  });
}

void OutputStream::WakeUp() {
  sleeping_ = false;
  StopFlush();
  if (!reading_) return;
  int rc = uv_poll_start(&handles_->poll, UV_READABLE, OnReadable);
  if (rc != 0) End(rc);
}

void OutputStream::Drain() {
  size_t got = 0;
  bool emptied = false;
  for (int i = 0; i < kReadsPerWake && reading_; i++) {
    // A pipe that fills chunks gives us much at once (a tick's worth, or while its writer keeps
    // writing): before each new chunk, what the sibling's pipe holds was written before what we
    // read next, and its poll may not have run yet (our tick is a timer, and timers run before
    // the loop polls; or we are still in one wake).
    if (grown_ && size_ == 0 && !ReadSiblingFirst()) return;
    ssize_t n = ReadSome();
    if (n == 0) return End(0);
    if (n < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK) return End(uv_translate_sys_error(errno));
      emptied = true;
      break;
    }
    got += static_cast<size_t>(n);
    size_ += static_cast<size_t>(n);
    if (size_ < kChunk) continue;
    if (!grown_) {
      grown_ = true;
      // Unprivileged and over the per-user pipe budget, this fails: the pipe keeps its size.
      bulk_ = fcntl(fd_, F_SETPIPE_SZ, kBigPipeSize) >= kBigPipeSize;
    }
    if (!Deliver(true)) return;
  }
  if (!reading_ || handles_ == nullptr) return;
  // Bulk output that this reader keeps up with (it emptied the pipe, which was far from full):
  // sleep a tick instead of waking on every write. The writer fills the large pipe meanwhile
  // without waking anyone, and the next tick reads it all; the end of the output still wakes
  // us at once. A writer fast enough to half-fill the pipe in a tick, or one that went quiet,
  // is read on readiness again.
  if (bulk_ && emptied && got > 0 && got < static_cast<size_t>(kBigPipeSize) / 2) {
    if (!Deliver(false)) return;                                                 // what a tick gathered is not held longer than a flush
    if (uv_poll_start(&handles_->poll, UV_DISCONNECT, OnReadable) != 0) return;  // stays awake
    sleeping_ = true;
    StartFlush();
    return;
  }
  if (size_ > 0 && !timerArmed_) StartFlush();
}

void OutputStream::StartFlush() {
  timerArmed_ = true;
  uv_timer_start(&handles_->timer, OnFlush, kFlushMs, 0);
}

void OutputStream::StopFlush() {
  if (!timerArmed_) return;
  uv_timer_stop(&handles_->timer);
  timerArmed_ = false;
}

ssize_t OutputStream::ReadSome() {
  if (data_ == nullptr) {
    // Node's allocator, as a net.Socket's reads: V8 counts it and collects it on time
    // (malloc'd memory handed over peaked 20 MB higher on 100 MB of output).
    Napi::Buffer<char> chunk = Napi::Buffer<char>::New(Env(), kChunk);
    chunk_ = Napi::Reference<Napi::Buffer<char>>::New(chunk, 1);
    data_ = chunk.Data();
  }
  ssize_t n;
  do n = read(fd_, data_ + size_, kChunk - size_);
  while (n < 0 && errno == EINTR);
  return n;
}

bool OutputStream::ReadSiblingFirst() {
  OutputStream* sibling = sibling_;
  // Asleep, it reads at its own tick (and holds nothing until then).
  if (sibling == nullptr || !sibling->reading_ || sibling->sleeping_) return true;
  ssize_t n = sibling->ReadSome();
  if (n <= 0) return true;  // end-of-file and errors are left to its poll, which sees them again
  sibling->size_ += static_cast<size_t>(n);
  if (sibling->size_ < kChunk) {
    // Its poll will not fire for bytes already read: its flush hands them over.
    if (!sibling->timerArmed_) sibling->StartFlush();
    return true;
  }
  // Full: ours (older) first, then the sibling's.
  Deliver(false);
  if (sibling_ != nullptr) sibling->FromLoop([sibling]() { sibling->Deliver(false); });
  return fd_ >= 0;
}

bool OutputStream::FlushSibling() {
  OutputStream* sibling = sibling_;
  // A paused sibling keeps its bytes: its reader is behind anyway (what it holds unread came
  // before them), and pushing more would go past the back-pressure it asked for.
  if (sibling != nullptr && sibling->reading_) {
    // The sibling's own scope: its object kept alive, its listener's exception made uncaught.
    sibling->FromLoop([sibling]() { sibling->Deliver(false); });
  }
  return fd_ >= 0;  // the sibling's listener may have closed this one
}

bool OutputStream::Deliver(bool siblingFirst) {
  if (size_ == 0 || fd_ < 0) return reading_;
  if (siblingFirst && !FlushSibling()) return false;
  StopFlush();
  Napi::Env env = Env();
  Napi::Buffer<char> chunk;
  if (size_ == kChunk) {
    chunk = chunk_.Value();  // handed over
    chunk_.Reset();
    data_ = nullptr;
  } else {
    chunk = Napi::Buffer<char>::Copy(env, data_, size_);
  }
  size_ = 0;
  onData_.MakeCallback(Value(), {chunk}, *context_);
  return reading_;
}

void OutputStream::End(int error) {
  if (!FlushSibling()) return;  // even with nothing left here: the sibling's bytes came before the end
  Deliver(false);               // what was read before the end or the error
  if (fd_ < 0) return;          // closed by the callback
  Napi::Env env = Env();
  Napi::Function onData = onData_.Value();
  CloseHandles();
  if (error == 0) {
    onData.MakeCallback(Value(), {env.Null()}, *context_);
  } else {
    // The code as a net.Socket's read error carries it ('EIO'...).
    onData.MakeCallback(Value(),
                        {env.Null(), Napi::String::New(env, std::string("cannot read the command's output: ") + uv_strerror(error)),
                         Napi::String::New(env, uv_err_name(error))},
                        *context_);
  }
}

Napi::Value OutputStream::Resume(const Napi::CallbackInfo& info) {
  if (fd_ >= 0 && !reading_) {
    int rc = uv_poll_start(&handles_->poll, UV_READABLE, OnReadable);
    // Thrown into the stream's _read(), which destroys the stream with it.
    if (rc != 0) throw Napi::Error::New(info.Env(), std::string("cannot read the command's output: ") + uv_strerror(rc));
    reading_ = true;
  }
  return info.Env().Undefined();
}

Napi::Value OutputStream::Pause(const Napi::CallbackInfo& info) {
  if (fd_ >= 0 && reading_) {
    reading_ = false;
    uv_poll_stop(&handles_->poll);
    if (sleeping_) {
      sleeping_ = false;
      StopFlush();  // armed whenever asleep
    }
  }
  return info.Env().Undefined();
}

Napi::Value OutputStream::Close(const Napi::CallbackInfo& info) {
  CloseHandles();
  return info.Env().Undefined();
}

}  // namespace lxcts
