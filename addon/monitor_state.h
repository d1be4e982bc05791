// state() as liblxc asks it — LXC_CMD_GET_STATE over the container's command socket — but
// from the event loop: a non-blocking socket that libuv polls, no thread-pool trip. The
// exchange is liblxc 5's (commands.c): a 16-byte request {cmd, datalen, data} sent with
// the caller's credentials, a 16-byte reply whose data field is the state.
#pragma once

#include <napi.h>

namespace lxcts {

// (lxcpath, name) → Promise<string> (liblxc's state names; "UNKNOWN" as liblxc's NULL), or
// null when this way cannot ask (the caller asks liblxc then). A monitor that never answers
// leaves the promise pending, as liblxc's call would block: but no thread is held.
Napi::Value MonitorState(const Napi::CallbackInfo& info);

}  // namespace lxcts
