// Captures what liblxc logs during one call on one container.
//
// liblxc logs nowhere useful unless told where, and its global log is shared by every
// thread. Each container handle therefore gets a log of its own: liblxc routes a call's
// log lines to the container's `lxc.log.file` (chosen per thread through its thread-local
// current config), and calls on one handle never overlap, so the bytes appended between
// Mark() and Since() belong to that call.
#pragma once

#include <lxc/lxccontainer.h>

#include <string>
#include <vector>

namespace lxcts {

class LogCapture {
 public:
  LogCapture() = default;
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;
  ~LogCapture();

  // Points the container's log at a private, already-unlinked file, unless its config
  // names a log file of its own, which is then read instead (and left in place).
  void Attach(lxc_container* c);
  void Close();

  off_t Mark() const;
  // Returns once nothing was appended for a short while (bounded to half a second).
  void WaitQuiet() const;
  std::vector<std::string> Since(off_t mark) const;

 private:
  int fd_ = -1;
};

}  // namespace lxcts
