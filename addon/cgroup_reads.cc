#include "cgroup_reads.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <vector>

#include "args.h"
#include "fds.h"

namespace lxcts {
namespace {

// A cgroup stat file is a few KiB at most (memory.stat is the largest of them); more is
// not one and reads as unreadable.
constexpr size_t kMaxFile = 1 << 20;

// True while the process behind the pidfd lives: a pidfd polls readable once it exits.
bool Alive(int pidfd) {
  pollfd p{pidfd, POLLIN, 0};
  int n;
  do {
    n = poll(&p, 1, 0);
  } while (n < 0 && errno == EINTR);
  return n == 0;
}

bool ReadFile(const std::string& path, std::string& text) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
  if (!fd.Valid()) return false;
  char buffer[4096];
  text.clear();
  for (;;) {
    ssize_t n = read(fd.Get(), buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    if (n == 0) return true;
    text.append(buffer, static_cast<size_t>(n));
    if (text.size() > kMaxFile) return false;
  }
}

}  // namespace

Napi::Value ReadCgroupFiles(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsArray()) throw Napi::TypeError::New(env, "readCgroupFiles(pidfd, paths)");
  int pidfd = info[0].As<Napi::Number>().Int32Value();
  std::vector<std::string> paths = StringArrayArg(info, 1, "paths");
  if (!Alive(pidfd)) return env.Null();
  std::vector<std::string> texts(paths.size());
  std::vector<bool> ok(paths.size());
  for (size_t i = 0; i < paths.size(); i++) ok[i] = ReadFile(paths[i], texts[i]);
  if (!Alive(pidfd)) return env.Null();
  Napi::Array result = Napi::Array::New(env, paths.size());
  for (size_t i = 0; i < paths.size(); i++) result.Set(i, ok[i] ? Napi::Value(Napi::String::New(env, texts[i])) : env.Null());
  return result;
}

}  // namespace lxcts
