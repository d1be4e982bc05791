// The stream lxcts-files (files_program.cc) reads for pushFile, written by
// src/lxc/file-frames.ts. Not tar (trees go as tar: files_tar.h): a frame is a fixed header
// whose every length is bounded, and file data comes in chunks, so that a stream of unknown
// length can be pushed as it arrives (tar wants the size first).
//
//   frame:  FileFrame, path (pathLen bytes), link (linkLen bytes)
//   then, for kFileRegular only: chunks of { uint32_t length; bytes }, ended by length 0
//
// A stream ends with a frame of type kFileEnd. Numbers are little-endian (both ends run on
// this machine). Paths are relative to the directory the program was given, "/"-separated,
// never absolute and never with a ".." part (the program refuses those, whatever sent them).
#pragma once

#include <cstdint>

namespace lxcts {

constexpr uint32_t kFilesMagic = 0x3166786c;  // "lxf1"
constexpr uint32_t kFilesMaxPath = 4096;
constexpr uint32_t kFilesMaxChunk = 1024 * 1024;

enum FileType : uint8_t {
  kFileRegular = 'f',
  kFileDirectory = 'd',
  kFileSymlink = 'l',
  kFileHardlink = 'h',  // link: the earlier entry's path, relative like any other
  kFileEnd = 'e',
};

struct FileFrame {
  uint32_t magic;
  uint8_t type;
  uint8_t unused[3];
  uint32_t mode;  // permission bits (07777)
  uint32_t pathLen;
  uint32_t linkLen;
  uint32_t unused2;
  int64_t uid;    // -1: the writer's own
  int64_t gid;    // -1: the writer's own
  int64_t mtime;  // seconds; -1: now
  uint64_t size;  // a regular file's length: what its chunks add up to when the program sends it
};

static_assert(sizeof(FileFrame) == 56, "FileFrame has no padding of the compiler's");

}  // namespace lxcts
