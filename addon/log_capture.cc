#include "log_capture.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "config_item.h"

namespace lxcts {
namespace {
// Enough for the error lines of one call; a runaway log is cut to its last bytes.
constexpr off_t kMaxCapture = 64 * 1024;
constexpr size_t kMaxLines = 50;
}  // namespace

LogCapture::~LogCapture() { Close(); }

void LogCapture::Close() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

void LogCapture::Attach(lxc_container* c) {
  Close();
  std::string configured = ReadConfigItem(c, "lxc.log.file");
  if (!configured.empty()) {
    fd_ = open(configured.c_str(), O_RDONLY | O_CLOEXEC);
    return;
  }
  const char* tmpdir = getenv("TMPDIR");
  std::string path = std::string(tmpdir != nullptr && *tmpdir != '\0' ? tmpdir : "/tmp") + "/lxcts-log-XXXXXX";
  fd_ = mkostemp(path.data(), O_CLOEXEC);
  if (fd_ < 0) return;
  // Setting lxc.log.file opens the file inside liblxc; clearing the key right after drops
  // it from the config that create()/saveConfig() write, while liblxc keeps logging to the
  // descriptor it opened. Unlinking leaves no file behind, whatever happens to us.
  c->set_config_item(c, "lxc.log.file", path.c_str());
  c->clear_config_item(c, "lxc.log.file");
  unlink(path.c_str());
}

off_t LogCapture::Mark() const {
  struct stat st;
  if (fd_ < 0 || fstat(fd_, &st) != 0) return 0;
  return st.st_size;
}

void LogCapture::WaitQuiet() const {
  constexpr int kStepMs = 25, kQuietSteps = 2, kMaxSteps = 20;
  off_t last = Mark();
  for (int step = 0, quiet = 0; step < kMaxSteps && quiet < kQuietSteps; step++) {
    usleep(kStepMs * 1000);
    off_t now = Mark();
    quiet = now == last ? quiet + 1 : 0;
    last = now;
  }
}

std::vector<std::string> LogCapture::Since(off_t mark) const {
  std::vector<std::string> lines;
  off_t end = Mark();
  if (fd_ < 0 || end <= mark) return lines;
  if (end - mark > kMaxCapture) mark = end - kMaxCapture;
  std::string text(static_cast<size_t>(end - mark), '\0');
  ssize_t n = pread(fd_, text.data(), text.size(), mark);
  if (n <= 0) return lines;
  text.resize(static_cast<size_t>(n));
  lines = SplitLines(text);
  if (lines.size() > kMaxLines) lines.erase(lines.begin(), lines.end() - kMaxLines);
  return lines;
}

}  // namespace lxcts
