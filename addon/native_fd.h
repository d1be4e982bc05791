// A descriptor JavaScript owns: closed by close(), by the garbage collector, or with the
// environment (a worker_thread that ends), whichever comes first; never twice.
//
// It can also say when the descriptor is ready (readable or writable), through a libuv poll
// handle, so that JavaScript reads and writes a non-blocking descriptor with fs.readSync /
// fs.writeSync and waits on EAGAIN without a busy loop and without a pool thread. Used for
// pseudo-terminal masters, which Node's own streams either write blocking (tty.WriteStream)
// or read with libuv's stream, which Node 20's libuv (1.46) ends early on a master: a
// partial read after POLLHUP is taken for end-of-file while the terminal still holds output
// (libuv issues 4992 and 2319, fixed upstream by PRs 4997 and 5165). Also holds the pidfd
// of initPidFd() (never watched: watching would make it non-blocking).
#pragma once

#include <napi.h>
#include <uv.h>

#include <cstdint>
#include <memory>

#include "teardown.h"

namespace lxcts {

class NativeFd : public Napi::ObjectWrap<NativeFd> {
 public:
  static Napi::Function Define(Napi::Env env);

  // (fd, onReady?: (status: number, events: number) => void): takes the descriptor over;
  // with onReady, makes it non-blocking.
  explicit NativeFd(const Napi::CallbackInfo& info);
  ~NativeFd() override;

 private:
  static void OnReady(uv_poll_t* poll, int status, int events);
  void Close();
  void Unwatch();

  Napi::Value Fd(const Napi::CallbackInfo& info);       // the number, -1 once closed
  Napi::Value Watch(const Napi::CallbackInfo& info);    // (readable, writable) → undefined
  Napi::Value Stop(const Napi::CallbackInfo& info);     // stops watching
  Napi::Value CloseJs(const Napi::CallbackInfo& info);  // closes now (synchronously); idempotent

  int fd_ = -1;
  uv_poll_t* poll_ = nullptr;  // made on the first watch()
  bool watching_ = false;
  std::shared_ptr<EnvTeardown> teardown_;
  uint64_t token_ = 0;
  Napi::FunctionReference onReady_;
  Napi::ObjectReference self_;  // held while watching: a wake-up needs the object
  std::unique_ptr<Napi::AsyncContext> context_;
};

}  // namespace lxcts
