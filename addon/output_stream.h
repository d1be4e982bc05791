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
//
// A command's stdout and stderr are a pair (the second is constructed with the first as its
// sibling): before one hands over a chunk (a full one, or at end-of-file), the other hands over
// the partial chunk it holds, as its bytes were read first; and a pipe that fills chunks, before
// it starts each chunk, has the sibling read what its pipe holds (written before what the wake
// reads, while the sibling's poll may not have run yet). Else a line on stderr waiting for its
// flush, or for its poll while stdout's tick runs, would reach a consumer that merges both after
// the stdout chunks read meanwhile (up to a tick's 1 MiB). A partial chunk flushed by its timer does not flush the sibling: the sibling's
// timer, armed earlier, fires first. A paused sibling keeps its bytes.
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

  // (fd, onData(chunk: Buffer | null, error?: string, code?: string), sibling?: OutputStream):
  // the descriptor is ours from here on, closed at end-of-file, on a read error, or by close().
  // null means end-of-file; with an error, code is its errno name ('EIO'). The sibling (open,
  // of no other pair) becomes this one's pair until either closes.
  explicit OutputStream(const Napi::CallbackInfo& info);
  ~OutputStream() override;

 private:
  struct Handles;

  static void OnReadable(uv_poll_t* poll, int status, int events);
  static void OnFlush(uv_timer_t* timer);
  // Runs `body` with a handle scope, this object held; JavaScript's exceptions become uncaught
  // exceptions (as from a net.Socket's 'data' listener). No callback scope: each MakeCallback
  // opens its own (and runs the microtasks and ticks after it).
  template <typename Body>
  void FromLoop(Body body);
  void Drain();
  void WakeUp();  // from a tick asleep: read on readiness again
  // Hands over the chunk being filled; false once reading stopped (paused, closed or ended) in
  // the callback. With siblingFirst, the sibling's partial chunk goes first.
  bool Deliver(bool siblingFirst);
  bool FlushSibling();      // false when this one was closed meanwhile
  bool ReadSiblingFirst();  // before a wake that may read much: the sibling reads its pipe; false when closed
  ssize_t ReadSome();       // one read into the chunk being filled (made if none): read()'s result
  void StartFlush();        // (re)arms the flush timer: kFlushMs from now
  void StopFlush();         // disarms it, if armed
  void End(int error);      // 0: end-of-file; else a libuv error code
  void CloseHandles();

  Napi::Value Resume(const Napi::CallbackInfo& info);
  Napi::Value Pause(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  Handles* handles_ = nullptr;       // null once closed
  OutputStream* sibling_ = nullptr;  // the pair's other output while both are open
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
