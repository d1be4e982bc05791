#include "helper_watch.h"

#include <sys/syscall.h>
#include <unistd.h>

#include "addon_data.h"

namespace lxcts {

void HelperWatch::Start(napi_env env, pid_t pid, HelperWatch** slot, std::function<void()> exited) {
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) return;
  auto* watch = new HelperWatch();
  // The helper is our unreaped child, so the pid cannot have been recycled.
  watch->pidfd_.Reset(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
  if (!watch->pidfd_.Valid() || uv_poll_init(loop, &watch->poll_, watch->pidfd_.Get()) != 0) {
    delete watch;  // never linked into the loop
    return;
  }
  watch->poll_.data = watch;
  watch->slot_ = slot;
  watch->exited_ = std::move(exited);
  watch->teardown_ = Napi::Env(env).GetInstanceData<AddonData>()->teardown;
  // The environment's end closes the handle while the loop still runs (see teardown.h).
  watch->token_ = watch->teardown_->Opened([watch]() { watch->Close(); });
  *slot = watch;
  if (uv_poll_start(&watch->poll_, UV_READABLE, OnReadable) != 0) return watch->Close();
  uv_unref(reinterpret_cast<uv_handle_t*>(&watch->poll_));
}

void HelperWatch::OnReadable(uv_poll_t* poll, int /*status*/, int /*events*/) {
  auto* self = static_cast<HelperWatch*>(poll->data);
  // Readable (or an error) means the process has exited. No JavaScript runs here.
  std::function<void()> exited = std::move(self->exited_);
  self->Close();
  if (exited) exited();
}

void HelperWatch::Close() {
  if (slot_ == nullptr) return;  // closed already
  *slot_ = nullptr;
  slot_ = nullptr;
  exited_ = nullptr;
  uv_poll_stop(&poll_);
  teardown_->Closing(token_);
  uv_close(reinterpret_cast<uv_handle_t*>(&poll_), [](uv_handle_t* handle) {
    auto* self = static_cast<HelperWatch*>(handle->data);
    std::shared_ptr<EnvTeardown> teardown = std::move(self->teardown_);
    delete self;
    teardown->CloseDone();
  });
}

}  // namespace lxcts
