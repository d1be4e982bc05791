// spawn()'s stdout and stderr: a command's pipe read on the event loop and handed to JavaScript
// in chunks of up to 64 KiB, instead of one chunk per wake-up.
//
// Many programs write in small pieces (busybox's head and cat write 4 KiB at a time), and a pipe
// wakes its reader on every write: a net.Socket then runs its whole JavaScript path (a Buffer, the
// stream's push, the consumer's callback or async iterator) about 250 times per MB, which cost
// more than the data itself (bench/README.md). Here reads stay in C++ and JavaScript runs once per
// 64 KiB, at end-of-file, or when output has waited kFlushMs without reaching 64 KiB (a command
// that prints a line and pauses: its line is at most that late).
//
// Once a command has filled a chunk, its pipe is made 1 MiB, and while this reader keeps up (each
// read empties a pipe that was far from full) it stops waking on every write: it reads once per
// tick of kFlushMs, and only the end of the output (the writer closing the pipe) wakes it between
// ticks. A writer fast enough to half-fill the pipe in a tick, or one that goes quiet, is read on
// readiness again. Back-pressure is kept: pause() stops reading until resume(), so a consumer that
// stops reading stops the command on its next write once the pipe is full.
#pragma once

#include <napi.h>
#include <uv.h>

#include <cstddef>
#include <memory>

#include "teardown.h"

namespace lxcts {

class OutputStream : public Napi::ObjectWrap<OutputStream> {
 public:
  static Napi::Function Define(Napi::Env env);

  // (fd, onData(chunk: Buffer | null, error?: string)): the descriptor is ours from here on,
  // closed at end-of-file, on a read error, or by close(). null means end-of-file.
  explicit OutputStream(const Napi::CallbackInfo& info);
  ~OutputStream() override;

 private:
  struct Handles;

  static void OnReadable(uv_poll_t* poll, int status, int events);
  static void OnFlush(uv_timer_t* timer);
  // Runs `body` with a handle scope and a callback scope; JavaScript's exceptions become
  // uncaught exceptions (as from a net.Socket's 'data' listener).
  template <typename Body>
  void FromLoop(Body body);
  void Drain();
  void WakeUp();   // from a tick asleep: read on readiness again
  bool Deliver();  // false once reading stopped (paused, closed or ended) in the callback
  void End(const char* error);
  void CloseHandles();

  Napi::Value Resume(const Napi::CallbackInfo& info);
  Napi::Value Pause(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  Handles* handles_ = nullptr;  // null once closed
  int fd_ = -1;
  Napi::Reference<Napi::Buffer<char>> chunk_;  // being filled; handed over when full
  char* data_ = nullptr;                       // chunk_'s bytes
  size_t size_ = 0;
  bool reading_ = false;   // resumed and not paused
  bool grown_ = false;     // a chunk was filled: the pipe was made larger
  bool bulk_ = false;      // ... and it is kBigPipeSize now
  bool sleeping_ = false;  // reading per tick, woken only by the end of the output
  bool timerArmed_ = false;
  Napi::FunctionReference onData_;
  Napi::ObjectReference self_;  // held while the descriptor is open
  std::unique_ptr<Napi::AsyncContext> context_;
  std::shared_ptr<EnvTeardown> teardown_;
  EnvTeardown::Token token_ = 0;
};

}  // namespace lxcts
