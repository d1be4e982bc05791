/**
 * The frames lxcts-files reads and writes inside the container (addon/files_wire.h says
 * why they are not tar): encoding for pushes, a bounded reader for pulls.
 */
import type { Readable } from 'node:stream';

export const FRAME_MAGIC = 0x3166786c;
export const FRAME_HEADER_BYTES = 56;
export const MAX_FRAME_PATH = 4096;
export const MAX_CHUNK = 1024 * 1024;

export type FrameType = 'file' | 'directory' | 'symlink' | 'link' | 'end';

const TYPE_CODES: Record<FrameType, number> = { file: 0x66, directory: 0x64, symlink: 0x6c, link: 0x68, end: 0x65 };
const TYPE_NAMES = new Map<number, FrameType>(Object.entries(TYPE_CODES).map(([name, code]) => [code, name as FrameType]));

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

/** Exact-length reads from a stream, pulling only as much as asked (back-pressure holds). */
export class ByteReader {
  readonly #chunks: AsyncIterator<Buffer>;
  #buffered: Buffer[] = [];
  #length = 0;

  constructor(stream: Readable) {
    this.#chunks = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  }

  /** Exactly n bytes; throws when the stream ends first. */
  async read(n: number): Promise<Buffer> {
    while (this.#length < n) {
      const next = await this.#chunks.next();
      if (next.done) throw new Error('the stream ended inside a frame');
      this.#buffered.push(next.value);
      this.#length += next.value.length;
    }
    const all = this.#buffered.length === 1 ? this.#buffered[0]! : Buffer.concat(this.#buffered, this.#length);
    this.#buffered = all.length > n ? [all.subarray(n)] : [];
    this.#length -= n;
    return all.subarray(0, n);
  }
}

/** The next frame from lxcts-files; an Error for anything it would never send. */
export async function readFrame(reader: ByteReader): Promise<Frame> {
  const h = await reader.read(FRAME_HEADER_BYTES);
  const type = TYPE_NAMES.get(h.readUInt8(4));
  const pathLen = h.readUInt32LE(12);
  const linkLen = h.readUInt32LE(16);
  if (h.readUInt32LE(0) !== FRAME_MAGIC || type === undefined || pathLen > MAX_FRAME_PATH || linkLen > MAX_FRAME_PATH) {
    throw new Error('malformed frame');
  }
  const names = await reader.read(pathLen + linkLen);
  const frame: Frame = {
    type,
    path: names.subarray(0, pathLen).toString(),
    link: names.subarray(pathLen).toString(),
    mode: h.readUInt32LE(8) & 0o7777,
    uid: Number(h.readBigInt64LE(24)),
    gid: Number(h.readBigInt64LE(32)),
    mtime: Number(h.readBigInt64LE(40)),
    size: Number(h.readBigUInt64LE(48)),
  };
  if (type === 'end') return frame;
  // The program's words: every name made relative and plain before a tar header carries it
  // (an empty one would be "/"); a hard link only to a name of the tree.
  const name = relativeEntryName(frame.path);
  if (name === null || (name === '' && (type !== 'directory' || frame.path !== '.'))) throw new Error(`malformed frame: entry ${JSON.stringify(frame.path)}`);
  frame.path = name === '' ? '.' : name;
  if (type === 'link') {
    const target = relativeEntryName(frame.link);
    if (target === null || target === '') throw new Error(`malformed frame: hard link ${JSON.stringify(frame.path)} to ${JSON.stringify(frame.link)}`);
    frame.link = target;
  }
  return frame;
}
