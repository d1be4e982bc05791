/**
 * The frames lxcts-files reads inside the container for pushFile (addon/files_wire.h), and
 * the entry-name rule that pushes and pulls share. Trees go as tar (files_tar.h, tar-check.ts).
 */

export const FRAME_MAGIC = 0x3166786c;
export const FRAME_HEADER_BYTES = 56;
export const MAX_FRAME_PATH = 4096;
export const MAX_CHUNK = 1024 * 1024;

export type FrameType = 'file' | 'directory' | 'symlink' | 'link' | 'end';

const TYPE_CODES: Record<FrameType, number> = { file: 0x66, directory: 0x64, symlink: 0x6c, link: 0x68, end: 0x65 };

export interface Frame {
  type: FrameType;
  /** Relative, "/"-separated, never absolute and never with a ".." part. */
  path: string;
  /** A symlink's target, or a hard link's earlier entry. */
  link: string;
  mode: number;
  /** -1: the writer's own. */
  uid: number;
  gid: number;
  /** Seconds; -1: now. */
  mtime: number;
  /** A regular file's length, when the sender knows it (pulls); 0 otherwise. */
  size: number;
}

/** The frame's header and names, ready to write; a regular file's chunks follow it. */
export function encodeFrame(frame: Frame): Buffer {
  const path = Buffer.from(frame.path);
  const link = Buffer.from(frame.link);
  const out = Buffer.alloc(FRAME_HEADER_BYTES + path.length + link.length);
  out.writeUInt32LE(FRAME_MAGIC, 0);
  out.writeUInt8(TYPE_CODES[frame.type], 4);
  out.writeUInt32LE(frame.mode & 0o7777, 8);
  out.writeUInt32LE(path.length, 12);
  out.writeUInt32LE(link.length, 16);
  out.writeBigInt64LE(BigInt(frame.uid), 24);
  out.writeBigInt64LE(BigInt(frame.gid), 32);
  out.writeBigInt64LE(BigInt(frame.mtime), 40);
  out.writeBigUInt64LE(BigInt(frame.size), 48);
  path.copy(out, FRAME_HEADER_BYTES);
  link.copy(out, FRAME_HEADER_BYTES + path.length);
  return out;
}

export const END_FRAME = encodeFrame({ type: 'end', path: '', link: '', mode: 0, uid: -1, gid: -1, mtime: -1, size: 0 });

/** A chunk's length prefix; 0 ends a file's data. */
export function chunkLength(length: number): Buffer {
  const out = Buffer.alloc(4);
  out.writeUInt32LE(length, 0);
  return out;
}

/**
 * A relative entry name made safe to use below a directory: "./a//b/" → "a/b". Null for an
 * absolute name or one with a ".." part; "" for the directory itself.
 */
export function relativeEntryName(name: string): string | null {
  if (name.startsWith('/') || name.includes('\0')) return null;
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) return null;
  return parts.join('/');
}
