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
//   lxcts-files put DIR [--mkdir]   frames on stdin (files_wire.h) → entries below DIR (pushFile)
//   lxcts-files untar DIR [--mkdir] a tar stream on stdin (files_tar.h) → entries below DIR (pushTar);
//                                   on stdout, "skip TYPE NAME" for each device or fifo left out
//                                   (both in hex) and "entries N" at the end
//   lxcts-files tar PATH            PATH (a file or a tree, its links as links) → tar on stdout (pullTar)
//   lxcts-files cat PATH            a regular file's bytes → stdout (pullFile)
//
// A regular file is written under a temporary name in its directory and renamed into place
// once whole: a push that fails or is stopped (SIGTERM, from a timeout or an abort) leaves
// the file that was there, never half of the new one.
//
// Below DIR nothing is followed: each path is walked one part at a time with O_NOFOLLOW
// and ".." is refused, so an archive cannot write outside DIR, not even elsewhere in the
// container (a symlink entry `a -> /etc` followed by an entry `a/passwd` fails). On the first
// failure it says why on stderr and exits 1; what was written before stays.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/sendfile.h>
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
#include "files_tar.h"
#include "files_wire.h"

namespace lxcts {
namespace {

constexpr size_t kBufferBytes = 256 * 1024;
// Pipes this large take a big file's data in a few trips instead of one per 64 KiB.
constexpr int kPipeBytes = 1024 * 1024;
// A file's data is written 64 KiB at a time: measured (256 MiB tree, 512 files, into ext4 in
// a container, kernel 6.18), 1 MiB writes cost 5-6 times the CPU of 64 KiB ones (490-880 ms
// against 106-124 ms; busybox tar: 140-270 ms), nearly all of it in the kernel's copy into
// the page cache: a piece this size is still in the CPU's cache when write() copies it.
constexpr size_t kFileWriteBytes = 64 * 1024;
// Every file is opened with O_NONBLOCK: a fifo put where a file was (the container may swap
// one in between a look and an open) must not block the open; read() of a regular file
// ignores the flag.

// The file being written under its temporary name, for the signal handler to remove. A
// global because a handler has nothing else to reach it by; `dir` is set last and cleared
// first, so the handler never sees a half-written name.
struct PendingTemp {
  volatile sig_atomic_t dir = -1;
  char name[64] = {};
};
PendingTemp gPending;

void RemovePending() {
  int dir = gPending.dir;
  gPending.dir = -1;
  if (dir >= 0) unlinkat(dir, gPending.name, 0);
}

extern "C" void OnStop(int) {
  RemovePending();
  _exit(1);
}

// Best effort: a descriptor that is no pipe, or a limit of the kernel's, leaves it as it is.
void EnlargePipe(int fd) {
  for (int size = kPipeBytes; size >= 64 * 1024; size /= 2) {
    if (fcntl(fd, F_SETPIPE_SZ, size) >= 0) return;
  }
}

[[noreturn]] void Die(const std::string& what, int error = 0) {
  RemovePending();
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

  // True at a clean end of input (no byte left); reads ahead to know.
  bool AtEnd() {
    while (start_ == end_) {
      ssize_t n = read(STDIN_FILENO, buffer_.data(), buffer_.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return true;
      start_ = 0;
      end_ = static_cast<size_t>(n);
    }
    return false;
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

void SetTime(int dir, const char* name, int64_t mtime) {
  struct timespec times[2] = {{0, UTIME_OMIT}, {mtime, 0}};
  if (mtime < 0) times[1].tv_nsec = UTIME_NOW;
  utimensat(dir, name, times, AT_SYMLINK_NOFOLLOW);  // a time that cannot be set is no reason to fail
}

// A file's data from the frame stream: chunks until one of length 0.
void ReceiveChunks(Input& in, int out, std::vector<char>& buffer, const std::string& shown) {
  for (;;) {
    uint32_t length;
    if (!in.Read(&length, sizeof length)) Die(shown + ": the stream ended inside the file");
    if (length == 0) return;
    if (length > kFilesMaxChunk) Die(shown + ": malformed chunk");
    for (uint32_t at = 0; at < length; at += kFileWriteBytes) {
      size_t piece = std::min<size_t>(kFileWriteBytes, length - at);
      if (!in.Read(buffer.data(), piece)) Die(shown + ": the stream ended inside the file");
      WriteFull(out, buffer.data(), piece);
    }
  }
}

// A file's data from a tar stream: exactly `size` bytes, then the padding to a block.
void ReceiveBytes(Input& in, int out, uint64_t size, std::vector<char>& buffer, const std::string& shown) {
  for (uint64_t left = size; left > 0;) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(left, buffer.size()));
    if (!in.Read(buffer.data(), n)) Die(shown + ": the archive ended inside the file (truncated)");
    if (out >= 0) WriteFull(out, buffer.data(), n);
    left -= n;
  }
  char pad[kTarBlock];
  if (!in.Read(pad, static_cast<size_t>(TarPadding(size)))) Die(shown + ": the archive ended inside the file (truncated)");
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

// One entry to write below the target directory, whichever stream it came from.
struct Entry {
  uint8_t type;  // a FileType
  std::string path, link;
  mode_t mode;
  int64_t uid, gid, mtime;
};

// Writes entries below one directory, walking every path without following anything.
class Writer {
 public:
  Writer(const char* target, bool makeTarget) {
    if (makeTarget) MakeDirectories(target);
    // The target itself is the caller's choice and resolves as the container resolves it.
    root_.Reset(open(target, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!root_.Valid()) Die(target, errno);
  }

  // The entry's path as parts below the target; dies on an absolute one or one with "..".
  static std::vector<std::string> Parts(const std::string& path) {
    std::vector<std::string> parts;
    if (!SplitRelative(path, parts)) Die(path + ": refused: the path is absolute or has a \"..\" part");
    return parts;
  }

  // `data` writes a regular file's bytes to the descriptor it is given.
  template <typename Data>
  void Write(const Entry& e, const std::vector<std::string>& parts, Data data) {
    const std::string& path = e.path;
    if (parts.empty()) {
      // "." or "./": the target directory itself, whose owner and mode stay the caller's.
      if (e.type != kFileDirectory) Die(path + ": refused: not a directory");
      return;
    }
    UniqueFd dir = OpenBeneath(root_.Get(), parts, parts.size() - 1, true, path);
    const char* name = parts.back().c_str();
    mode_t mode = e.mode & 07777;
    switch (e.type) {
      case kFileDirectory: {
        Clear(dir.Get(), name, true, path);
        if (mkdirat(dir.Get(), name, 0700) != 0 && errno != EEXIST) Die(path + ": cannot make directory", errno);
        // Owner and mode through a descriptor of the directory itself: another user of the
        // container may swap the name for a link (rename with RENAME_EXCHANGE) at any moment,
        // and a call by name would then change whatever the link points at.
        UniqueFd made(openat(dir.Get(), name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!made.Valid()) Die(path + ": cannot open the directory made (not followed)", errno);
        // The owner first: chown clears the set-id bits the mode then sets.
        if ((e.uid >= 0 || e.gid >= 0) && fchown(made.Get(), static_cast<uid_t>(e.uid), static_cast<gid_t>(e.gid)) != 0)
          Die(path + ": cannot set owner", errno);
        if (fchmod(made.Get(), mode) != 0) Die(path + ": cannot set mode", errno);
        directories_.push_back({parts, e.mtime});
        break;
      }
      case kFileRegular: {
        UniqueFd out = CreateTemp(dir.Get(), path);
        data(out.Get());
        // The owner first: chown clears the set-id bits the mode then sets.
        if ((e.uid >= 0 || e.gid >= 0) && fchown(out.Get(), static_cast<uid_t>(e.uid), static_cast<gid_t>(e.gid)) != 0)
          Die(path + ": cannot set owner", errno);
        if (fchmod(out.Get(), mode) != 0) Die(path + ": cannot set mode", errno);
        struct timespec times[2] = {{0, UTIME_OMIT}, {e.mtime, 0}};
        if (e.mtime < 0) times[1].tv_nsec = UTIME_NOW;
        futimens(out.Get(), times);
        // Renamed over a file or link of that name (replaced, never written through); a
        // directory in the way goes first, as before.
        struct stat st;
        if (fstatat(dir.Get(), name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode) && unlinkat(dir.Get(), name, AT_REMOVEDIR) != 0)
          Die(path + ": a directory is in the way", errno);
        if (renameat(dir.Get(), gPending.name, dir.Get(), name) != 0) Die(path + ": cannot create", errno);
        gPending.dir = -1;
        break;
      }
      case kFileSymlink: {
        // Written as it came: a link is only a name, resolved (inside the container) by
        // whoever follows it later, never by this program.
        if (e.link.empty()) Die(path + ": a symbolic link without a target");
        Clear(dir.Get(), name, false, path);
        if (symlinkat(e.link.c_str(), dir.Get(), name) != 0) Die(path + ": cannot make symbolic link", errno);
        SetOwner(dir.Get(), name, e.uid, e.gid, path);
        SetTime(dir.Get(), name, e.mtime);
        break;
      }
      case kFileHardlink: {
        std::vector<std::string> targetParts;
        if (!SplitRelative(e.link, targetParts) || targetParts.empty())
          Die(path + ": refused: hard link to " + e.link + ", outside the directory");
        UniqueFd targetDir = OpenBeneath(root_.Get(), targetParts, targetParts.size() - 1, false, path);
        Clear(dir.Get(), name, false, path);
        // Flags 0: a link named as the target is linked itself, never followed.
        if (linkat(targetDir.Get(), targetParts.back().c_str(), dir.Get(), name, 0) != 0) Die(path + ": cannot link to " + e.link, errno);
        break;
      }
      default:
        Die(path + ": malformed frame");
    }
  }

  // Directory times last: every entry made inside one changed it.
  void Finish() {
    for (auto it = directories_.rbegin(); it != directories_.rend(); ++it) {
      // The directory itself, opened without following: its name may be a link by now.
      UniqueFd dir = OpenBeneath(root_.Get(), it->parts, it->parts.size(), false, it->parts.back());
      struct timespec times[2] = {{0, UTIME_OMIT}, {it->mtime, 0}};
      if (it->mtime < 0) times[1].tv_nsec = UTIME_NOW;
      futimens(dir.Get(), times);  // a time that cannot be set is no reason to fail
    }
  }

 private:
  static void SetOwner(int dir, const char* name, int64_t uid, int64_t gid, const std::string& shown) {
    if (uid < 0 && gid < 0) return;
    if (fchownat(dir, name, static_cast<uid_t>(uid), static_cast<gid_t>(gid), AT_SYMLINK_NOFOLLOW) != 0)
      Die(shown + ": cannot set owner", errno);
  }

  // A new file of a name no one else uses, recorded for the signal handler.
  UniqueFd CreateTemp(int dir, const std::string& shown) {
    for (;;) {
      snprintf(gPending.name, sizeof gPending.name, ".lxcts-%d-%u", static_cast<int>(getpid()), serial_++);
      int fd = openat(dir, gPending.name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
      if (fd >= 0) {
        gPending.dir = dir;
        return UniqueFd(fd);
      }
      if (errno != EEXIST) Die(shown + ": cannot create", errno);
    }
  }

  UniqueFd root_;
  std::vector<DirectoryTime> directories_;
  unsigned serial_ = 0;
};

int Put(const char* target, bool makeTarget) {
  Writer writer(target, makeTarget);
  Input in;
  std::vector<char> buffer(kFileWriteBytes);
  for (;;) {
    FileFrame f;
    if (!in.Read(&f, sizeof f)) Die("the stream ended without its end frame");
    if (f.magic != kFilesMagic || f.pathLen > kFilesMaxPath || f.linkLen > kFilesMaxPath) Die("malformed frame");
    if (f.type == kFileEnd) break;
    Entry e{f.type, std::string(f.pathLen, '\0'), std::string(f.linkLen, '\0'), static_cast<mode_t>(f.mode), f.uid, f.gid, f.mtime};
    if (!in.Read(e.path.data(), e.path.size()) || !in.Read(e.link.data(), e.link.size())) Die("the stream ended inside a frame");
    if (e.path.find('\0') != std::string::npos || e.link.find('\0') != std::string::npos) Die("malformed frame");
    writer.Write(e, Writer::Parts(e.path), [&](int out) { ReceiveChunks(in, out, buffer, e.path); });
  }
  writer.Finish();
  return 0;
}

std::string Hex(const std::string& bytes) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

// A tar stream into the target: ustar and pax ('x') headers, GNU long names ('L', 'K')
// tolerated; devices and fifos left out and listed; everything else Put does.
int Untar(const char* target, bool makeTarget) {
  EnlargePipe(STDIN_FILENO);
  Writer writer(target, makeTarget);
  Input in;
  std::vector<char> buffer(kFileWriteBytes);
  std::string report;
  uint64_t entries = 0;
  TarOverrides pending;
  std::string longName, longLink;
  bool hasLongName = false, hasLongLink = false;
  char block[kTarBlock];
  for (;;) {
    // Input that stops without the zero block that ends an archive was cut (a writer that
    // died, a connection lost): taking it as whole would pass a part for the tree.
    if (in.AtEnd()) Die("the archive ended without its end blocks (truncated)");
    if (!in.Read(block, sizeof block)) Die("the archive ended inside a header (truncated)");
    if (TarZeroBlock(block)) {
      // The end; what a writer pads after it (records of 10 KiB) is read and dropped.
      while (!in.AtEnd()) in.Read(buffer.data(), 1);
      break;
    }
    std::string shown = TarString(block, kTarName).substr(0, 200);
    if (!TarChecksumValid(block))
      Die("refused: not a tar archive, or a corrupt header (bad checksum) after " + std::to_string(entries) + " entries");
    char type = block[kTarType.at];
    uint64_t size;
    if (!TarNumber(block, kTarSize, size)) Die(shown + ": refused: malformed size in the header");
    if (type == 'x' || type == 'g' || type == 'L' || type == 'K') {
      if (size > kTarMaxExtended)
        Die(shown + ": refused: an extended header of " + std::to_string(size) + " bytes (at most " + std::to_string(kTarMaxExtended) +
            ")");
      std::string data(static_cast<size_t>(size + TarPadding(size)), '\0');
      if (!in.Read(data.data(), data.size())) Die("the archive ended inside an extended header (truncated)");
      data.resize(static_cast<size_t>(size));
      std::string error;
      if (type == 'x' && !TarParsePax(data, pending, error)) Die(shown + ": " + error);
      if (type == 'L' || type == 'K') {
        std::string name = data.substr(0, strnlen(data.data(), data.size()));
        if (name.size() > kFilesMaxPath)
          Die(name.substr(0, 200) + "...: refused: a name longer than " + std::to_string(kFilesMaxPath) + " bytes");
        (type == 'L' ? longName : longLink) = name;
        (type == 'L' ? hasLongName : hasLongLink) = true;
      }
      continue;  // 'g': global defaults this program has no use for
    }
    bool ustar = memcmp(block + kTarMagic.at, "ustar\0", 6) == 0;
    std::string prefix = ustar ? TarString(block, kTarPrefix) : "";
    std::string path = pending.hasPath  ? pending.path
                       : hasLongName    ? longName
                       : prefix.empty() ? TarString(block, kTarName)
                                        : prefix + "/" + TarString(block, kTarName);
    std::string link = pending.hasLink ? pending.link : hasLongLink ? longLink : TarString(block, kTarLink);
    uint64_t mode, uid, gid, mtime;
    if (!TarNumber(block, kTarMode, mode) || !TarNumber(block, kTarUid, uid) || !TarNumber(block, kTarGid, gid) ||
        !TarNumber(block, kTarMtime, mtime))
      Die(path.substr(0, 200) + ": refused: malformed number in the header");
    if (pending.hasSize) size = pending.size;
    Entry e{0,
            path,
            link,
            static_cast<mode_t>(mode & 07777),
            pending.hasUid ? static_cast<int64_t>(pending.uid) : static_cast<int64_t>(uid & 0xffffffff),
            pending.hasGid ? static_cast<int64_t>(pending.gid) : static_cast<int64_t>(gid & 0xffffffff),
            pending.hasMtime ? pending.mtime : static_cast<int64_t>(mtime)};
    pending = TarOverrides();
    hasLongName = hasLongLink = false;
    if (path.size() > kFilesMaxPath || link.size() > kFilesMaxPath)
      Die(path.substr(0, 200) + ": refused: a name longer than " + std::to_string(kFilesMaxPath) + " bytes");
    if (path.find('\0') != std::string::npos || link.find('\0') != std::string::npos) Die("refused: a name with a NUL byte");
    std::vector<std::string> parts = Writer::Parts(path);
    e.type = type == '0' || type == '\0' || type == '7' ? kFileRegular
             : type == '5'                              ? kFileDirectory
             : type == '2'                              ? kFileSymlink
             : type == '1'                              ? kFileHardlink
                                                        : 0;
    // What a tar reader takes as data: none for a directory, `size` bytes for anything else.
    uint64_t dataSize = e.type == kFileDirectory ? 0 : size;
    if (e.type == 0 || (parts.empty() && e.type != kFileDirectory)) {
      report += "skip " + Hex(std::string(1, type)) + " " + Hex(path) + "\n";
      ReceiveBytes(in, -1, dataSize, buffer, path);
      continue;
    }
    if (e.type == kFileRegular) {
      writer.Write(e, parts, [&](int out) { ReceiveBytes(in, out, dataSize, buffer, path); });
    } else {
      ReceiveBytes(in, -1, dataSize, buffer, path);
      writer.Write(e, parts, [](int) {});
    }
    entries++;
  }
  writer.Finish();
  report += "entries " + std::to_string(entries) + "\n";
  WriteFull(STDOUT_FILENO, report.data(), report.size());
  return 0;
}

// The tar entry of a file, with what its stat says of it (mode, owner, time); its type is the caller's.
TarEntry EntryOf(const struct stat& st) {
  return TarEntry{0, "", "", static_cast<uint32_t>(st.st_mode & 07777), st.st_uid, st.st_gid, 0, st.st_mtim.tv_sec};
}

// A tree as a tar stream on stdout, its links as links, hard links to the first name.
class Getter {
 public:
  Getter() { EnlargePipe(STDOUT_FILENO); }

  void Entry(int dir, const std::string& name, const std::string& path, const struct stat& st) {
    TarEntry e = EntryOf(st);
    if (S_ISREG(st.st_mode) && st.st_nlink > 1) {
      auto key = std::make_pair(st.st_dev, st.st_ino);
      auto found = seen_.find(key);
      if (found != seen_.end()) {
        e.type = '1';
        Send(e, path, found->second);
        return;
      }
      // A name too long to send is no target for the links that follow.
      if (path.size() <= kFilesMaxPath) seen_.emplace(key, path);
    }
    if (S_ISDIR(st.st_mode)) {
      e.type = '5';
      if (!Send(e, path + "/", "")) return;
      UniqueFd sub(openat(dir, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!sub.Valid()) Die(path, errno);
      return Directory(sub, path);
    }
    if (S_ISLNK(st.st_mode)) {
      e.type = '2';
      std::string link(kFilesMaxPath, '\0');
      ssize_t n = readlinkat(dir, name.c_str(), link.data(), link.size());
      if (n < 0) Die(path, errno);
      link.resize(static_cast<size_t>(n));
      Send(e, path, link);
      return;
    }
    if (!S_ISREG(st.st_mode)) return Warn(path + ": skipped (not a file, directory or link)");
    UniqueFd in(openat(dir, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
    if (!in.Valid()) Die(path, errno);
    struct stat now;
    if (fstat(in.Get(), &now) != 0 || !S_ISREG(now.st_mode)) Die(path + ": changed while read");
    e.type = '0';
    e.size = static_cast<uint64_t>(now.st_size);
    // A file whose header was not sent has no data to send either: bare bytes would be read as headers.
    if (Send(e, path, "")) SendData(in.Get(), e.size, path);
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
    // The end of the archive: two zero blocks.
    char zeros[2 * kTarBlock] = {};
    out_.Put(zeros, sizeof zeros);
    out_.Flush();
  }

 private:
  // A top that is a link: what it points to, under the link's name.
  void FollowedTop(UniqueFd& fd, const std::string& base, const struct stat& st) {
    TarEntry e = EntryOf(st);
    if (S_ISDIR(st.st_mode)) {
      e.type = '5';
      if (!Send(e, base + "/", "")) return;
      return Directory(fd, base);
    }
    // A file: opened already, sent from that descriptor.
    if (!S_ISREG(st.st_mode)) return Warn(base + ": skipped (not a file, directory or link)");
    e.type = '0';
    e.size = static_cast<uint64_t>(st.st_size);
    if (Send(e, base, "")) SendData(fd.Get(), e.size, base);
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

  // False when the entry is skipped (its name or link target is too long: the reader on the
  // host bounds them as this program bounds what it is pushed).
  bool Send(TarEntry& e, const std::string& path, const std::string& link) {
    if (path.size() > kFilesMaxPath || link.size() > kFilesMaxPath) {
      Warn(path.substr(0, 200) + "...: skipped (path too long)");
      return false;
    }
    e.path = path;
    e.link = link;
    char block[kTarBlock];
    TarHeader(e, block, pax_);
    if (!pax_.empty()) {
      char paxBlock[kTarBlock];
      TarPaxHeader(pax_, paxBlock);
      out_.Put(paxBlock, sizeof paxBlock);
      out_.Put(pax_.data(), pax_.size());
      Pad(pax_.size());
    }
    out_.Put(block, sizeof block);
    return true;
  }

  void Pad(uint64_t size) {
    char zeros[kTarBlock] = {};
    out_.Put(zeros, static_cast<size_t>(TarPadding(size)));
  }

  // Exactly `size` bytes, as the header said: a file that grew is cut, one that shrank is
  // padded with zeros (as tar does), and either is said on stderr. A large file goes from
  // its page cache to the pipe by sendfile, never through this program's memory.
  void SendData(int in, uint64_t size, const std::string& path) {
    uint64_t left = size;
    bool changed = false;
    if (size >= kSendfileBytes) {
      out_.Flush();
      while (left > 0 && sendfile_) {
        ssize_t n = sendfile(STDOUT_FILENO, in, nullptr, static_cast<size_t>(std::min<uint64_t>(left, 1 << 30)));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EINVAL || errno == ENOSYS) && left == size) {
          sendfile_ = false;  // not for this output: read and write instead
          break;
        }
        if (n < 0) Die(path, errno);
        if (n == 0) break;  // shrank: zeros below
        left -= static_cast<uint64_t>(n);
      }
    }
    while (left > 0) {
      size_t want = static_cast<size_t>(std::min<uint64_t>(left, buffer_.size()));
      ssize_t n = changed ? 0 : read(in, buffer_.data(), want);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) Die(path, errno);
      if (n == 0) {
        memset(buffer_.data(), 0, want);
        n = static_cast<ssize_t>(want);
        changed = true;
      }
      out_.Put(buffer_.data(), static_cast<size_t>(n));
      left -= static_cast<uint64_t>(n);
    }
    char probe;
    if (!changed && read(in, &probe, 1) > 0) changed = true;
    if (changed) Warn(path + ": changed while read; sent as " + std::to_string(size) + " bytes");
    Pad(size);
  }

  // Smaller files are read into the output buffer: fewer trips than a flush and a sendfile each.
  static constexpr uint64_t kSendfileBytes = 64 * 1024;
  Output out_;
  std::string pax_;
  bool sendfile_ = true;
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
  // A timeout or an abort on the host stops the program with SIGTERM: the file it was
  // writing goes with it (see PendingTemp).
  struct sigaction stop = {};
  stop.sa_handler = OnStop;
  for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGPIPE}) sigaction(sig, &stop, nullptr);
  bool mkdirFlag = argc == 4 && strcmp(argv[3], "--mkdir") == 0;
  if (mode == "put" && (argc == 3 || mkdirFlag)) return Put(argv[2], mkdirFlag);
  if (mode == "untar" && (argc == 3 || mkdirFlag)) return Untar(argv[2], mkdirFlag);
  if (mode == "tar" && argc == 3) {
    Getter getter;
    getter.Top(argv[2]);
    return 0;
  }
  if (mode == "cat" && argc == 3) return Cat(argv[2]);
  Die("usage: lxcts-files put DIR [--mkdir] | untar DIR [--mkdir] | tar PATH | cat PATH");
}
