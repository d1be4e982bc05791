// exec()'s output without streams: a command's stdout and stderr pipes read on the event loop into
// one buffer each, the promise settled once both reach end-of-file.
//
// exec() collects everything anyway, so two net.Sockets per command (each a libuv pipe handle, a
// stream state machine, a chunk per read and a buffer concat at the end) bought nothing: one poll
// handle per pipe, reads of up to 64 KiB appended to a growing buffer, and one JavaScript callback
// for the whole output do the same with fewer system calls and allocations. spawn() keeps its
// streams.
#pragma once

#include <napi.h>
#include <uv.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

namespace lxcts {

class EnvTeardown;

class OutputGather : public Napi::ObjectWrap<OutputGather> {
 public:
  static Napi::Function Define(Napi::Env env);

  // (stdout fd, stderr fd): both are ours from here on, closed at end-of-file or close().
  explicit OutputGather(const Napi::CallbackInfo& info);
  ~OutputGather() override;

 private:
  struct Pipe;
  // A malloc'd buffer that grows by doubling; handed to a Buffer without a copy.
  struct Bytes {
    char* bytes = nullptr;
    size_t size = 0;
    size_t capacity = 0;
    ~Bytes() { free(bytes); }
    Bytes() = default;
    Bytes& operator=(Bytes&& other) noexcept {
      free(bytes);
      bytes = other.bytes;
      size = other.size;
      capacity = other.capacity;
      other.bytes = nullptr;
      other.size = other.capacity = 0;
      return *this;
    }
    // Room for `room` more bytes: at least double, so that appends cost O(n) in all.
    bool Grow(size_t room) {
      size_t want = size + room;
      if (want < capacity * 2) want = capacity * 2;
      char* grown = static_cast<char*>(realloc(bytes, want));
      if (grown == nullptr) return false;
      bytes = grown;
      capacity = want;
      return true;
    }
    bool Append(const char* from, size_t n) {
      if (capacity - size < n && !Grow(n)) return false;
      memcpy(bytes + size, from, n);
      size += n;
      return true;
    }
    char* Release() {
      char* b = bytes;
      bytes = nullptr;
      capacity = 0;
      return b;
    }
  };

  static void OnReadable(uv_poll_t* poll, int status, int events);
  void Drain(Pipe& pipe);
  void Finish(Pipe& pipe);
  void Settle();
  void Deliver();
  void StopAll();

  Napi::Value Done(const Napi::CallbackInfo& info);   // () → Promise<[Buffer, Buffer]>
  Napi::Value Close(const Napi::CallbackInfo& info);  // () → undefined: stop reading, reject

  Pipe* pipes_[2] = {nullptr, nullptr};
  Bytes data_[2];
  int open_ = 0;            // pipes not yet at end-of-file
  std::string failure_;     // a read error, or "closed"
  bool finished_ = false;   // both pipes ended, or failed, or closed
  bool delivered_ = false;  // done() was called
  std::unique_ptr<Napi::Promise::Deferred> deferred_;
  Napi::ObjectReference self_;  // keeps this object alive while it reads
  std::unique_ptr<Napi::AsyncContext> context_;
};

}  // namespace lxcts
