// lxcts-files: copies files into and out of a container, from inside it. The addon attaches
// to the container and executes this program from a sealed copy of the host's file
// (attach_command.cc), so a container needs no tar of its own, and everything the program
// does happens in the container's mount namespace, as the container's root: a path (or a
// symlink planted in the rootfs, `/tmp/x -> /etc`, `-> ../../../../host`) can only ever
// resolve to a file of the container, and an owner written is the container's uid, which
// the kernel maps to the host's id for an unprivileged container.
//
// It is linked statically: the container's C library, if it has one, is not ours.
//
//   lxcts-files put DIR [--mkdir]   frames on stdin (files_wire.h) → entries below DIR
//   lxcts-files get PATH            PATH (a file or a tree, its links as links) → frames on stdout
//   lxcts-files cat PATH            a regular file's bytes → stdout
//
// Below DIR nothing is followed: each path is walked one part at a time with O_NOFOLLOW
// and ".." is refused, so an archive cannot write outside DIR, not even elsewhere in the
// container (a symlink entry `a -> /etc` followed by an entry `a/passwd` fails). On the first
// failure it says why on stderr and exits 1; what was written before stays.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "fds.h"
#include "files_wire.h"

namespace lxcts {
namespace {

constexpr size_t kBufferBytes = 256 * 1024;
// Every file is opened with O_NONBLOCK: a fifo put where a file was (the container may swap
// one in between a look and an open) must not block the open; read() of a regular file
// ignores the flag.

[[noreturn]] void Die(const std::string& what, int error = 0) {
  std::string line = "lxcts-files: " + what;
  if (error != 0) line += std::string(": ") + strerror(error);
  line += "\n";
  ssize_t ignored = write(STDERR_FILENO, line.data(), line.size());
  (void)ignored;
  _exit(1);
}

void Warn(const std::string& what) {
  std::string line = "lxcts-files: " + what + "\n";
  ssize_t ignored = write(STDERR_FILENO, line.data(), line.size());
  (void)ignored;
}

bool ReadFull(int fd, void* data, size_t size) {
  auto* p = static_cast<char*>(data);
  while (size > 0) {
    ssize_t n = read(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

void WriteFull(int fd, const void* data, size_t size) {
  auto* p = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t n = write(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) Die("cannot write", errno);
    p += n;
    size -= static_cast<size_t>(n);
  }
}

// Input read ahead into one buffer, so that a frame and its chunk headers are not a read
// each; long reads go straight into the caller's memory once the buffer is drained.
class Input {
 public:
  bool Read(void* data, size_t size) {
    auto* p = static_cast<char*>(data);
    size_t have = std::min(size, end_ - start_);
    memcpy(p, buffer_.data() + start_, have);
    start_ += have;
    p += have;
    size -= have;
    if (size == 0) return true;
    if (size >= buffer_.size()) return ReadFull(STDIN_FILENO, p, size);
    while (size > 0) {
      ssize_t n = read(STDIN_FILENO, buffer_.data(), buffer_.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      start_ = 0;
      end_ = static_cast<size_t>(n);
      size_t take = std::min(size, end_);
      memcpy(p, buffer_.data(), take);
      start_ = take;
      p += take;
      size -= take;
    }
    return true;
  }

 private:
  std::vector<char> buffer_ = std::vector<char>(kBufferBytes);
  size_t start_ = 0, end_ = 0;
};

// Output gathered into one buffer, so that a tree of small files is not two writes each.
class Output {
 public:
  void Put(const void* data, size_t size) {
    if (buffer_.size() + size > kBufferBytes) Flush();
    if (size >= kBufferBytes) return WriteFull(STDOUT_FILENO, data, size);
    buffer_.append(static_cast<const char*>(data), size);
  }
  void Flush() {
    WriteFull(STDOUT_FILENO, buffer_.data(), buffer_.size());
    buffer_.clear();
  }

 private:
  std::string buffer_;
};

// "a/b/c" → {"a", "b", "c"}; "." and empty parts dropped. False for an absolute path or one
// with a ".." part: nothing may leave the directory the program was given.
bool SplitRelative(const std::string& path, std::vector<std::string>& parts) {
  if (path.empty() || path[0] == '/') return false;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    std::string part = path.substr(start, end - start);
    if (part == "..") return false;
    if (!part.empty() && part != ".") parts.push_back(part);
    start = end + 1;
  }
  return true;
}

// The directory `parts` names below `root`, walked without following anything; with `create`,
// missing directories are made (0755, the writer's owner), as tar does for an archive that
// lists a file before (or without) its directory.
UniqueFd OpenBeneath(int root, const std::vector<std::string>& parts, size_t count, bool create, const std::string& shown) {
  UniqueFd dir(fcntl(root, F_DUPFD_CLOEXEC, 3));
  for (size_t i = 0; i < count; i++) {
    const char* part = parts[i].c_str();
    int fd = openat(dir.Get(), part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT && create) {
      if (mkdirat(dir.Get(), part, 0755) != 0 && errno != EEXIST) Die(shown + ": cannot make directory " + parts[i], errno);
      fd = openat(dir.Get(), part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    }
    if (fd < 0) {
      int error = errno;
      // O_DIRECTORY with O_NOFOLLOW says ENOTDIR for a link: tell it apart, it is a refusal.
      struct stat st;
      if (fstatat(dir.Get(), part, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) {
        Die(shown + ": refused: " + parts[i] + " is a symbolic link (not followed)");
      }
      Die(shown + ": cannot enter " + parts[i], error);
    }
    dir.Reset(fd);
  }
  return dir;
}

// Makes room for a new entry `name` in `dir`: an existing file or link goes; an existing
// directory stays only if a directory is to be made.
void Clear(int dir, const char* name, bool forDirectory, const std::string& shown) {
  struct stat st;
  if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) != 0) return;
  if (S_ISDIR(st.st_mode)) {
    if (!forDirectory && unlinkat(dir, name, AT_REMOVEDIR) != 0) Die(shown + ": a directory is in the way", errno);
    return;
  }
  if (unlinkat(dir, name, 0) != 0) Die(shown + ": cannot replace", errno);
}

void SetOwner(int dir, const char* name, const FileFrame& f, const std::string& shown) {
  if (f.uid < 0 && f.gid < 0) return;
  if (fchownat(dir, name, static_cast<uid_t>(f.uid), static_cast<gid_t>(f.gid), AT_SYMLINK_NOFOLLOW) != 0)
    Die(shown + ": cannot set owner", errno);
}

void SetTime(int dir, const char* name, int64_t mtime) {
  struct timespec times[2] = {{0, UTIME_OMIT}, {mtime, 0}};
  if (mtime < 0) times[1].tv_nsec = UTIME_NOW;
  utimensat(dir, name, times, AT_SYMLINK_NOFOLLOW);  // a time that cannot be set is no reason to fail
}

void ReceiveData(Input& in, int out, const std::string& shown) {
  std::vector<char> buffer(kFilesMaxChunk);
  for (;;) {
    uint32_t length;
    if (!in.Read(&length, sizeof length)) Die(shown + ": the stream ended inside the file");
    if (length == 0) return;
    if (length > kFilesMaxChunk) Die(shown + ": malformed chunk");
    if (!in.Read(buffer.data(), length)) Die(shown + ": the stream ended inside the file");
    WriteFull(out, buffer.data(), length);
  }
}

struct DirectoryTime {
  std::vector<std::string> parts;
  int64_t mtime;
};

// mkdir -p, in the container's own view of its paths.
void MakeDirectories(const std::string& target) {
  for (size_t slash = target.find('/', 1);; slash = target.find('/', slash + 1)) {
    std::string prefix = target.substr(0, slash);
    if (mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST) Die(prefix + ": cannot make directory", errno);
    if (slash == std::string::npos) return;
  }
}

int Put(const char* target, bool makeTarget) {
  if (makeTarget) MakeDirectories(target);
  // The target itself is the caller's choice and resolves as the container resolves it.
  UniqueFd root(open(target, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!root.Valid()) Die(target, errno);
  std::vector<DirectoryTime> directories;
  Input in;
  for (;;) {
    FileFrame f;
    if (!in.Read(&f, sizeof f)) Die("the stream ended without its end frame");
    if (f.magic != kFilesMagic || f.pathLen > kFilesMaxPath || f.linkLen > kFilesMaxPath) Die("malformed frame");
    if (f.type == kFileEnd) break;
    std::string path(f.pathLen, '\0'), link(f.linkLen, '\0');
    if (!in.Read(path.data(), path.size()) || !in.Read(link.data(), link.size())) Die("the stream ended inside a frame");
    if (path.find('\0') != std::string::npos || link.find('\0') != std::string::npos) Die("malformed frame");
    std::vector<std::string> parts;
    if (!SplitRelative(path, parts)) Die(path + ": refused: the path is absolute or has a \"..\" part");
    if (parts.empty()) {
      // "." or "./": the target directory itself, whose owner and mode stay the caller's.
      if (f.type != kFileDirectory) Die(path + ": refused: not a directory");
      continue;
    }
    UniqueFd dir = OpenBeneath(root.Get(), parts, parts.size() - 1, true, path);
    const char* name = parts.back().c_str();
    mode_t mode = f.mode & 07777;
    switch (f.type) {
      case kFileDirectory: {
        Clear(dir.Get(), name, true, path);
        if (mkdirat(dir.Get(), name, 0700) != 0 && errno != EEXIST) Die(path + ": cannot make directory", errno);
        SetOwner(dir.Get(), name, f, path);
        // fchmodat does not refuse a link here: Clear left a directory or nothing, and a
        // directory cannot turn into a link under us in a tree only we write.
        if (fchmodat(dir.Get(), name, mode, 0) != 0) Die(path + ": cannot set mode", errno);
        directories.push_back({parts, f.mtime});
        break;
      }
      case kFileRegular: {
        Clear(dir.Get(), name, false, path);
        UniqueFd out(openat(dir.Get(), name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
        if (!out.Valid()) Die(path + ": cannot create", errno);
        ReceiveData(in, out.Get(), path);
        // The owner first: chown clears the set-id bits the mode then sets.
        if ((f.uid >= 0 || f.gid >= 0) && fchown(out.Get(), static_cast<uid_t>(f.uid), static_cast<gid_t>(f.gid)) != 0)
          Die(path + ": cannot set owner", errno);
        if (fchmod(out.Get(), mode) != 0) Die(path + ": cannot set mode", errno);
        struct timespec times[2] = {{0, UTIME_OMIT}, {f.mtime, 0}};
        if (f.mtime < 0) times[1].tv_nsec = UTIME_NOW;
        futimens(out.Get(), times);
        break;
      }
      case kFileSymlink: {
        // Written as it came: a link is only a name, resolved (inside the container) by
        // whoever follows it later, never by this program.
        if (link.empty()) Die(path + ": a symbolic link without a target");
        Clear(dir.Get(), name, false, path);
        if (symlinkat(link.c_str(), dir.Get(), name) != 0) Die(path + ": cannot make symbolic link", errno);
        SetOwner(dir.Get(), name, f, path);
        SetTime(dir.Get(), name, f.mtime);
        break;
      }
      case kFileHardlink: {
        std::vector<std::string> targetParts;
        if (!SplitRelative(link, targetParts) || targetParts.empty())
          Die(path + ": refused: hard link to " + link + ", outside the directory");
        UniqueFd targetDir = OpenBeneath(root.Get(), targetParts, targetParts.size() - 1, false, path);
        Clear(dir.Get(), name, false, path);
        // Flags 0: a link named as the target is linked itself, never followed.
        if (linkat(targetDir.Get(), targetParts.back().c_str(), dir.Get(), name, 0) != 0) Die(path + ": cannot link to " + link, errno);
        break;
      }
      default:
        Die(path + ": malformed frame");
    }
  }
  // Directory times last: every entry made inside one changed it.
  for (auto it = directories.rbegin(); it != directories.rend(); ++it) {
    UniqueFd dir = OpenBeneath(root.Get(), it->parts, it->parts.size() - 1, false, it->parts.back());
    SetTime(dir.Get(), it->parts.back().c_str(), it->mtime);
  }
  return 0;
}

// The frame of an entry, with what its stat says of it (mode, owner, time); its type is the caller's.
FileFrame FrameOf(const struct stat& st) {
  FileFrame f = {};
  f.magic = kFilesMagic;
  f.mode = st.st_mode & 07777;
  f.uid = st.st_uid;
  f.gid = st.st_gid;
  f.mtime = st.st_mtim.tv_sec;
  return f;
}

class Getter {
 public:
  void Entry(int dir, const std::string& name, const std::string& path, const struct stat& st) {
    FileFrame f = FrameOf(st);
    std::string link;
    if (S_ISREG(st.st_mode) && st.st_nlink > 1) {
      auto key = std::make_pair(st.st_dev, st.st_ino);
      auto found = seen_.find(key);
      if (found != seen_.end()) {
        f.type = kFileHardlink;
        Send(f, path, found->second);
        return;
      }
      // A name too long to send is no target for the links that follow.
      if (path.size() <= kFilesMaxPath) seen_.emplace(key, path);
    }
    if (S_ISDIR(st.st_mode)) {
      f.type = kFileDirectory;
      if (!Send(f, path, link)) return;
      UniqueFd sub(openat(dir, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!sub.Valid()) Die(path, errno);
      return Directory(sub, path);
    }
    if (S_ISLNK(st.st_mode)) {
      f.type = kFileSymlink;
      link.resize(kFilesMaxPath);
      ssize_t n = readlinkat(dir, name.c_str(), link.data(), link.size());
      if (n < 0) Die(path, errno);
      link.resize(static_cast<size_t>(n));
      Send(f, path, link);
      return;
    }
    if (!S_ISREG(st.st_mode)) return Warn(path + ": skipped (not a file, directory or link)");
    UniqueFd in(openat(dir, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
    if (!in.Valid()) Die(path, errno);
    struct stat now;
    if (fstat(in.Get(), &now) != 0 || !S_ISREG(now.st_mode)) Die(path + ": changed while read");
    f.type = kFileRegular;
    f.size = static_cast<uint64_t>(now.st_size);
    // A file whose frame was not sent has no data to send either: bare chunks would break the stream.
    if (Send(f, path, link)) SendData(in.Get(), f.size, path);
  }

  void Top(const char* path) {
    // The path itself resolves as the container resolves it; nothing below it is followed.
    struct stat st;
    if (stat(path, &st) != 0) Die(path, errno);
    std::string whole(path);
    while (whole.size() > 1 && whole.back() == '/') whole.pop_back();
    size_t slash = whole.rfind('/');
    std::string parent = slash == std::string::npos ? "." : slash == 0 ? "/" : whole.substr(0, slash);
    std::string base = slash == std::string::npos ? whole : whole.substr(slash + 1);
    if (base.empty() || base == "/") {
      parent = "/";
      base = ".";
    }
    UniqueFd dir(open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dir.Valid()) Die(parent, errno);
    if (base == ".") {
      Directory(dir, ".");
    } else {
      // The top is named as the caller named it, even when that name is a link to it.
      struct stat top;
      if (fstatat(dir.Get(), base.c_str(), &top, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(top.st_mode)) {
        UniqueFd real(open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
        if (!real.Valid()) Die(path, errno);
        FollowedTop(real, base, st);
      } else {
        Entry(dir.Get(), base, base, st);
      }
    }
    FileFrame end = {};
    end.magic = kFilesMagic;
    end.type = kFileEnd;
    out_.Put(&end, sizeof end);
    out_.Flush();
  }

 private:
  // A top that is a link: what it points to, under the link's name.
  void FollowedTop(UniqueFd& fd, const std::string& base, const struct stat& st) {
    if (S_ISDIR(st.st_mode)) {
      FileFrame f = FrameOf(st);
      f.type = kFileDirectory;
      if (!Send(f, base, "")) return;
      return Directory(fd, base);
    }
    UniqueFd dir(fcntl(fd.Get(), F_DUPFD_CLOEXEC, 3));
    // A file: opened already, sent from that descriptor.
    if (!S_ISREG(st.st_mode)) return Warn(base + ": skipped (not a file, directory or link)");
    FileFrame f = FrameOf(st);
    f.type = kFileRegular;
    f.size = static_cast<uint64_t>(st.st_size);
    if (Send(f, base, "")) SendData(dir.Get(), f.size, base);
  }

  void Directory(UniqueFd& fd, const std::string& path) {
    int listed = fcntl(fd.Get(), F_DUPFD_CLOEXEC, 3);
    DIR* d = listed < 0 ? nullptr : fdopendir(listed);
    if (d == nullptr) Die(path, errno);
    std::vector<std::string> names;
    for (;;) {
      errno = 0;
      struct dirent* e = readdir(d);
      if (e == nullptr) break;
      if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) names.emplace_back(e->d_name);
    }
    int error = errno;
    closedir(d);
    if (error != 0) Die(path, error);
    for (const std::string& name : names) {
      struct stat st;
      std::string child = path == "." ? name : path + "/" + name;
      if (fstatat(fd.Get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) continue;  // gone since it was listed
        Die(child, errno);
      }
      Entry(fd.Get(), name, child, st);
    }
  }

  // False when the entry is skipped (its name or link target is too long for a frame).
  bool Send(FileFrame& f, const std::string& path, const std::string& link) {
    if (path.size() > kFilesMaxPath || link.size() > kFilesMaxPath) {
      Warn(path.substr(0, 200) + "...: skipped (path too long)");
      return false;
    }
    f.pathLen = static_cast<uint32_t>(path.size());
    f.linkLen = static_cast<uint32_t>(link.size());
    out_.Put(&f, sizeof f);
    out_.Put(path.data(), path.size());
    out_.Put(link.data(), link.size());
    return true;
  }

  // Exactly `size` bytes in chunks, as announced: a file that grew is cut, one that shrank
  // is padded with zeros (as tar does), and either is said on stderr.
  void SendData(int in, uint64_t size, const std::string& path) {
    uint64_t left = size;
    bool changed = false;
    while (left > 0) {
      size_t want = static_cast<size_t>(std::min<uint64_t>(left, kBufferBytes));
      ssize_t n = read(in, buffer_.data(), want);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) Die(path, errno);
      if (n == 0) {
        memset(buffer_.data(), 0, want);
        n = static_cast<ssize_t>(want);
        changed = true;
      }
      uint32_t length = static_cast<uint32_t>(n);
      out_.Put(&length, sizeof length);
      out_.Put(buffer_.data(), length);
      left -= length;
    }
    char probe;
    if (!changed && read(in, &probe, 1) > 0) changed = true;
    if (changed) Warn(path + ": changed while read; sent as " + std::to_string(size) + " bytes");
    uint32_t zero = 0;
    out_.Put(&zero, sizeof zero);
  }

  Output out_;
  std::vector<char> buffer_ = std::vector<char>(kBufferBytes);
  std::map<std::pair<dev_t, ino_t>, std::string> seen_;
};

int Cat(const char* path) {
  UniqueFd in(open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
  if (!in.Valid()) Die(path, errno);
  struct stat st;
  if (fstat(in.Get(), &st) != 0) Die(path, errno);
  if (!S_ISREG(st.st_mode)) Die(std::string(path) + ": not a regular file");
  std::vector<char> buffer(kBufferBytes);
  for (;;) {
    ssize_t n = read(in.Get(), buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) Die(path, errno);
    if (n == 0) return 0;
    WriteFull(STDOUT_FILENO, buffer.data(), static_cast<size_t>(n));
  }
}

}  // namespace
}  // namespace lxcts

int main(int argc, char** argv) {
  using namespace lxcts;
  umask(0);  // modes are set as they came
  std::string mode = argc >= 3 ? argv[1] : "";
  if (mode == "put" && (argc == 3 || (argc == 4 && strcmp(argv[3], "--mkdir") == 0))) return Put(argv[2], argc == 4);
  if (mode == "get" && argc == 3) {
    Getter getter;
    getter.Top(argv[2]);
    return 0;
  }
  if (mode == "cat" && argc == 3) return Cat(argv[2]);
  Die("usage: lxcts-files put DIR [--mkdir] | get PATH | cat PATH");
}
