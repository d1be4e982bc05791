// File descriptors owned by one scope, closed on every path out of it.
#pragma once

#include <fcntl.h>
#include <unistd.h>

namespace lxcts {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.Release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    Reset(other.Release());
    return *this;
  }
  ~UniqueFd() { Reset(); }

  int Get() const { return fd_; }
  bool Valid() const { return fd_ >= 0; }
  int Release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void Reset(int fd = -1) {
    if (fd_ >= 0) close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

// Keeps a descriptor off 0, 1 and 2. When the process runs with a standard stream closed,
// pipe() can hand out fd 0, and liblxc treats an attached stdin of fd 0 as the caller's
// terminal: it then ignores SIGINT and SIGQUIT in this whole process (lxc issue 1137).
inline UniqueFd AboveStdio(UniqueFd fd) {
  if (!fd.Valid() || fd.Get() > 2) return fd;
  return UniqueFd(fcntl(fd.Get(), F_DUPFD_CLOEXEC, 3));
}

}  // namespace lxcts
