// The tar format as lxcts-files reads and writes it (pushTar, pullTar): POSIX ustar headers,
// pax extended headers ('x') for what a header cannot hold (long names and link names, large
// sizes and ids), and, on input only, GNU long names ('L', 'K'). Pure functions over
// 512-byte blocks: the program decides what to do with an entry, these only say what it is.
//
// Input comes from whoever pushes (for a container's root, from outside): every length is
// bounded (kTarMaxExtended for an extended header, kFilesMaxPath for a name), a number that
// does not parse is an error, and a header whose checksum is wrong stops the archive.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>

#include "files_wire.h"

namespace lxcts {

constexpr size_t kTarBlock = 512;
// An extended header larger than this is refused: names are bounded anyway, and nothing else
// this program uses from it needs room.
constexpr uint64_t kTarMaxExtended = 64 * 1024;

// Offsets and widths of the ustar header's fields.
struct TarField {
  size_t at, width;
};
constexpr TarField kTarName{0, 100}, kTarMode{100, 8}, kTarUid{108, 8}, kTarGid{116, 8}, kTarSize{124, 12}, kTarMtime{136, 12},
    kTarChecksum{148, 8}, kTarType{156, 1}, kTarLink{157, 100}, kTarMagic{257, 6}, kTarVersion{263, 2}, kTarPrefix{345, 155};

inline std::string TarString(const char* block, TarField f) {
  const char* p = block + f.at;
  return std::string(p, strnlen(p, f.width));
}

// An octal field (spaces and NULs around it allowed), or base-256 (GNU, first byte 0x80).
// False when it is neither, or negative, or does not fit.
inline bool TarNumber(const char* block, TarField f, uint64_t& value) {
  const auto* p = reinterpret_cast<const unsigned char*>(block + f.at);
  value = 0;
  if (p[0] == 0x80) {
    for (size_t i = 1; i < f.width; i++) {
      if (value >> 56) return false;
      value = value << 8 | p[i];
    }
    return true;
  }
  size_t i = 0;
  while (i < f.width && (p[i] == ' ' || p[i] == 0)) i++;
  if (i == f.width) return true;  // empty: 0, as tar readers take it
  for (; i < f.width && p[i] >= '0' && p[i] <= '7'; i++) {
    if (value >> 60) return false;
    value = value << 3 | (p[i] - '0');
  }
  for (; i < f.width; i++) {
    if (p[i] != ' ' && p[i] != 0) return false;
  }
  return true;
}

// The sum of the header's bytes with its checksum field as spaces; tar writers differ on
// signed bytes, so both sums are accepted.
inline bool TarChecksumValid(const char* block) {
  uint64_t stored;
  if (!TarNumber(block, kTarChecksum, stored)) return false;
  int64_t unsignedSum = 0, signedSum = 0;
  for (size_t i = 0; i < kTarBlock; i++) {
    bool inField = i >= kTarChecksum.at && i < kTarChecksum.at + kTarChecksum.width;
    unsignedSum += inField ? ' ' : static_cast<unsigned char>(block[i]);
    signedSum += inField ? ' ' : static_cast<signed char>(block[i]);
  }
  return static_cast<int64_t>(stored) == unsignedSum || static_cast<int64_t>(stored) == signedSum;
}

inline bool TarZeroBlock(const char* block) {
  for (size_t i = 0; i < kTarBlock; i++) {
    if (block[i] != 0) return false;
  }
  return true;
}

inline uint64_t TarPadding(uint64_t size) { return (kTarBlock - size % kTarBlock) % kTarBlock; }

// What an extended header ('x') overrides. Unknown keys are ignored, as pax says.
struct TarOverrides {
  bool hasPath = false, hasLink = false, hasSize = false, hasUid = false, hasGid = false, hasMtime = false;
  std::string path, link;
  uint64_t size = 0, uid = 0, gid = 0;
  int64_t mtime = 0;
};

inline bool TarDecimal(const std::string& text, uint64_t& value) {
  if (text.empty() || text.size() > 19) return false;
  value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + static_cast<uint64_t>(c - '0');
  }
  return true;
}

// "LEN key=value\n" records. False (and why, in `error`) for a record that does not parse.
inline bool TarParsePax(const std::string& data, TarOverrides& o, std::string& error) {
  size_t at = 0;
  while (at < data.size()) {
    size_t space = data.find(' ', at);
    uint64_t length;
    if (space == std::string::npos || !TarDecimal(data.substr(at, space - at), length) || length <= space - at + 1 ||
        length > data.size() - at || data[at + length - 1] != '\n') {
      error = "malformed extended header record";
      return false;
    }
    std::string record = data.substr(space + 1, at + length - 1 - (space + 1));
    at += length;
    size_t equals = record.find('=');
    if (equals == std::string::npos) {
      error = "malformed extended header record";
      return false;
    }
    std::string key = record.substr(0, equals), value = record.substr(equals + 1);
    if (key == "path" || key == "linkpath") {
      if (value.size() > kFilesMaxPath || value.find('\0') != std::string::npos) {
        error = "refused: a " + key + " longer than " + std::to_string(kFilesMaxPath) + " bytes or with a NUL byte";
        return false;
      }
      (key == "path" ? o.path : o.link) = value;
      (key == "path" ? o.hasPath : o.hasLink) = true;
    } else if (key == "size" || key == "uid" || key == "gid") {
      uint64_t n;
      if (!TarDecimal(value, n) || (key != "size" && n > 0xfffffffe)) {
        error = "malformed " + key + " in an extended header";
        return false;
      }
      if (key == "size") o.size = n, o.hasSize = true;
      if (key == "uid") o.uid = n, o.hasUid = true;
      if (key == "gid") o.gid = n, o.hasGid = true;
    } else if (key == "mtime") {
      // Seconds, maybe negative, maybe with a fraction this program does not keep.
      std::string whole = value.substr(0, value.find('.'));
      bool negative = !whole.empty() && whole[0] == '-';
      uint64_t n;
      if (!TarDecimal(negative ? whole.substr(1) : whole, n) || n > (uint64_t{1} << 62)) {
        error = "malformed mtime in an extended header";
        return false;
      }
      o.mtime = negative ? -static_cast<int64_t>(n) : static_cast<int64_t>(n);
      o.hasMtime = true;
    }
  }
  return true;
}

inline void TarPutOctal(char* block, TarField f, uint64_t value) {
  // width-1 digits and a NUL, as ustar writers do.
  for (size_t i = f.width - 1; i-- > 0;) {
    block[f.at + i] = static_cast<char>('0' + (value & 7));
    value >>= 3;
  }
  block[f.at + f.width - 1] = 0;
}

inline bool TarFitsOctal(TarField f, uint64_t value) { return (f.width - 1) * 3 >= 64 || value < (uint64_t{1} << ((f.width - 1) * 3)); }

// One pax record, its length counting itself.
inline std::string TarPaxRecord(const std::string& key, const std::string& value) {
  size_t rest = key.size() + value.size() + 3;  // ' ', '=', '\n'
  size_t length = rest + 1;
  while (std::to_string(length).size() + rest != length) length++;
  return std::to_string(length) + " " + key + "=" + value + "\n";
}

// A ustar header for an entry; what does not fit (a name over 100 bytes that no prefix split
// holds, a link name over 100 bytes, a size, id or time too large for its field) goes into
// `pax`, which the caller writes first as an 'x' entry when it is not empty.
struct TarEntry {
  char type;
  std::string path, link;
  uint32_t mode;
  uint64_t uid, gid, size;
  int64_t mtime;
};

inline void TarFinishHeader(char* block) {
  memset(block + kTarChecksum.at, ' ', kTarChecksum.width);
  uint64_t sum = 0;
  for (size_t i = 0; i < kTarBlock; i++) sum += static_cast<unsigned char>(block[i]);
  TarPutOctal(block, TarField{kTarChecksum.at, 7}, sum);
  block[kTarChecksum.at + 7] = ' ';
}

inline void TarHeader(const TarEntry& e, char* block, std::string& pax) {
  memset(block, 0, kTarBlock);
  pax.clear();
  if (e.path.size() <= kTarName.width) {
    memcpy(block + kTarName.at, e.path.data(), e.path.size());
  } else {
    // ustar's prefix: the name split at a "/" into at most 155 and 100 bytes.
    size_t slash = e.path.rfind('/', kTarPrefix.width);
    if (slash != std::string::npos && slash > 0 && e.path.size() - slash - 1 <= kTarName.width && e.path.size() - slash - 1 > 0) {
      memcpy(block + kTarPrefix.at, e.path.data(), slash);
      memcpy(block + kTarName.at, e.path.data() + slash + 1, e.path.size() - slash - 1);
    } else {
      pax += TarPaxRecord("path", e.path);
      memcpy(block + kTarName.at, e.path.data(), kTarName.width);
    }
  }
  if (e.link.size() <= kTarLink.width) {
    memcpy(block + kTarLink.at, e.link.data(), e.link.size());
  } else {
    pax += TarPaxRecord("linkpath", e.link);
  }
  TarPutOctal(block, kTarMode, e.mode & 07777);
  auto number = [&](TarField f, uint64_t value, const char* key) {
    if (TarFitsOctal(f, value)) return TarPutOctal(block, f, value);
    pax += TarPaxRecord(key, std::to_string(value));
  };
  number(kTarUid, e.uid, "uid");
  number(kTarGid, e.gid, "gid");
  number(kTarSize, e.size, "size");
  if (e.mtime >= 0) {
    number(kTarMtime, static_cast<uint64_t>(e.mtime), "mtime");
  } else {
    pax += TarPaxRecord("mtime", std::to_string(e.mtime));
  }
  block[kTarType.at] = e.type;
  memcpy(block + kTarMagic.at, "ustar", 6);
  memcpy(block + kTarVersion.at, "00", 2);
  TarFinishHeader(block);
}

// The 'x' header that carries `pax` for the entry that follows it.
inline void TarPaxHeader(const std::string& pax, char* block) {
  memset(block, 0, kTarBlock);
  memcpy(block + kTarName.at, "././@PaxHeader", 14);
  TarPutOctal(block, kTarMode, 0644);
  TarPutOctal(block, kTarSize, pax.size());
  TarPutOctal(block, kTarMtime, 0);
  block[kTarType.at] = 'x';
  memcpy(block + kTarMagic.at, "ustar", 6);
  memcpy(block + kTarVersion.at, "00", 2);
  TarFinishHeader(block);
}

}  // namespace lxcts
