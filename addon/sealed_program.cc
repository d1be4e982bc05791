#include "sealed_program.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace lxcts {

UniqueFd SealedProgram(const std::string& path, std::string& error) {
  UniqueFd in(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  struct stat st;
  if (!in.Valid() || fstat(in.Get(), &st) != 0) {
    error = "cannot open " + path + ": " + strerror(errno);
    return UniqueFd();
  }
  UniqueFd copy(memfd_create("lxcts-files", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!copy.Valid()) {
    error = std::string("cannot copy the program: ") + strerror(errno);
    return UniqueFd();
  }
  off_t offset = 0;
  while (offset < st.st_size) {
    ssize_t n = sendfile(copy.Get(), in.Get(), &offset, static_cast<size_t>(st.st_size - offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      error = "cannot copy " + path + ": " + (n < 0 ? strerror(errno) : "it shrank");
      return UniqueFd();
    }
  }
  if (fchmod(copy.Get(), 0555) != 0 || fcntl(copy.Get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) != 0) {
    error = std::string("cannot seal the program's copy: ") + strerror(errno);
    return UniqueFd();
  }
  return AboveStdio(std::move(copy));
}

}  // namespace lxcts
