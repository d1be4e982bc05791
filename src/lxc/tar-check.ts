/**
 * Checks the tar stream that comes out of a container (pullTar) on its way to the caller,
 * without copying its data: each header is read and checked before it is passed on, and a
 * file's bytes go through as the chunks they came in. The stream is the container's word
 * (its root can write the program's stdout): anything a careless extractor on the host could
 * be led astray by stops it, before the entry reaches the caller.
 *
 * Passed: ustar headers of files, directories, symbolic links and hard links, with pax
 * extended headers ('x') for long names. Stopped: anything else (global 'g' headers too), a bad checksum, a name that is absolute or
 * has a ".." part (or is empty: "/"), a hard link out of the tree, an entry below a symbolic
 * link, devices and fifos, a directory or link with data, an extended header over 64 KiB, a
 * name over 4096 bytes, bytes after the end, and a stream that ends inside an entry.
 */
import { Transform, TransformCallback } from 'node:stream';

import { relativeEntryName } from './file-frames';

const BLOCK = 512;
const MAX_EXTENDED = 64 * 1024;
const MAX_NAME = 4096;

/** What a check found wrong; the message names the entry as the archive did (JSON-quoted). */
export class TarCheckError extends Error {}

function text(block: Buffer, at: number, width: number): string {
  const field = block.subarray(at, at + width);
  const nul = field.indexOf(0);
  return field.subarray(0, nul === -1 ? width : nul).toString();
}

/** An octal field, or base-256 (first byte 0x80); null when it is neither. */
function tarNumber(block: Buffer, at: number, width: number): number | null {
  if (block[at] === 0x80) {
    let value = 0;
    for (let i = at + 1; i < at + width; i++) value = value * 256 + block[i]!;
    return Number.isSafeInteger(value) ? value : null;
  }
  const digits = text(block, at, width).trim();
  if (digits === '') return 0;
  return /^[0-7]+$/.test(digits) ? parseInt(digits, 8) : null;
}

function checksumValid(block: Buffer): boolean {
  const stored = tarNumber(block, 148, 8);
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const byte = i >= 148 && i < 156 ? 0x20 : block[i]!;
    unsigned += byte;
    signed += byte > 127 ? byte - 256 : byte;
  }
  return stored === unsigned || stored === signed;
}

/** The path and linkpath records of a pax extended header. */
function paxRecords(data: Buffer): Map<string, string> {
  const records = new Map<string, string>();
  let at = 0;
  while (at < data.length) {
    const space = data.indexOf(0x20, at);
    const length = space === -1 ? NaN : Number(data.subarray(at, space).toString());
    if (!Number.isSafeInteger(length) || length <= space - at + 1 || at + length > data.length || data[at + length - 1] !== 0x0a) {
      throw new TarCheckError('malformed tar: an extended header record does not parse');
    }
    const record = data.subarray(space + 1, at + length - 1).toString();
    const equals = record.indexOf('=');
    if (equals === -1) throw new TarCheckError('malformed tar: an extended header record does not parse');
    records.set(record.slice(0, equals), record.slice(equals + 1));
    at += length;
  }
  return records;
}

export interface TarCheckHooks {
  /** Called once the whole archive passed: the stream ends when it resolves, fails when it rejects. */
  finish(): Promise<void>;
  /** The error the stream fails with for a failed check (e.g. the program's own account, when it has one). */
  explain(error: Error): Promise<Error>;
}

export class TarChecker extends Transform {
  readonly #hooks: TarCheckHooks;
  /** A header being gathered from chunks (a chunk may end inside one). */
  #header = Buffer.alloc(BLOCK);
  #headerFill = 0;
  /** Data and padding of the current entry still to pass on untouched. */
  #dataLeft = 0;
  /** An extended header's data being gathered: it must be read before the entry it names. */
  #extended: { data: Buffer; size: number; fill: number } | null = null;
  /** What was checked but waits for the entry it belongs to (extended headers). */
  #held: Buffer[] = [];
  #pending = new Map<string, string>();
  #zeroBlocks = 0;
  readonly #links = new Set<string>();
  #failed = false;

  constructor(hooks: TarCheckHooks) {
    super({ readableHighWaterMark: 1024 * 1024, writableHighWaterMark: 1024 * 1024 });
    this.#hooks = hooks;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.#failed) return callback();
    try {
      this.#take(chunk);
      callback();
    } catch (err) {
      this.#fail(err as Error, callback);
    }
  }

  override _flush(callback: TransformCallback): void {
    if (this.#failed) return callback();
    if (this.#zeroBlocks === 0 || this.#headerFill !== 0 || this.#extended) {
      return this.#fail(new TarCheckError('malformed tar: the archive ended inside an entry (short of its size)'), callback);
    }
    this.#hooks.finish().then(
      () => callback(),
      (err: Error) => callback(err),
    );
  }

  #fail(err: Error, callback: TransformCallback): void {
    this.#failed = true;
    this.#hooks.explain(err).then(
      (explained) => callback(explained),
      () => callback(err),
    );
  }

  #take(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length) {
      if (this.#dataLeft > 0) {
        const n = Math.min(this.#dataLeft, chunk.length - at);
        this.push(at === 0 && n === chunk.length ? chunk : chunk.subarray(at, at + n));
        this.#dataLeft -= n;
        at += n;
        continue;
      }
      const ext = this.#extended;
      if (ext) {
        const n = Math.min(ext.data.length - ext.fill, chunk.length - at);
        chunk.copy(ext.data, ext.fill, at, at + n);
        ext.fill += n;
        at += n;
        if (ext.fill === ext.data.length) this.#extendedDone(ext);
        continue;
      }
      const n = Math.min(BLOCK - this.#headerFill, chunk.length - at);
      chunk.copy(this.#header, this.#headerFill, at, at + n);
      this.#headerFill += n;
      at += n;
      if (this.#headerFill === BLOCK) {
        this.#headerFill = 0;
        this.#checkHeader(this.#header);
        this.#header = Buffer.alloc(BLOCK);
      }
    }
  }

  #extendedDone(ext: { data: Buffer; size: number }): void {
    this.#extended = null;
    this.#held.push(ext.data);
    for (const [key, value] of paxRecords(ext.data.subarray(0, ext.size))) {
      if (key === 'path' || key === 'linkpath' || key === 'size') this.#pending.set(key, value);
    }
  }

  #checkHeader(block: Buffer): void {
    if (block.every((b) => b === 0)) {
      if (this.#held.length > 0) throw new TarCheckError('malformed tar: an extended header without its entry');
      this.#zeroBlocks++;
      this.push(block);
      return;
    }
    if (this.#zeroBlocks > 0) throw new TarCheckError('malformed tar: bytes after the end of the archive');
    if (!checksumValid(block)) throw new TarCheckError('malformed tar: a header with a bad checksum');
    const type = String.fromCharCode(block[156]!);
    const size = tarNumber(block, 124, 12);
    if (size === null) throw new TarCheckError('malformed tar: a header with a malformed size');
    if (type === 'x') {
      if (size > MAX_EXTENDED) throw new TarCheckError(`malformed tar: an extended header of ${size} bytes`);
      this.#held.push(Buffer.from(block));
      this.#extended = { data: Buffer.alloc(Math.ceil(size / BLOCK) * BLOCK), size, fill: 0 };
      if (size === 0) this.#extendedDone(this.#extended);
      return;
    }
    const ustar = block.subarray(257, 263).equals(Buffer.from('ustar\0'));
    const prefix = ustar ? text(block, 345, 155) : '';
    const name = this.#pending.get('path') ?? (prefix ? `${prefix}/${text(block, 0, 100)}` : text(block, 0, 100));
    const link = this.#pending.get('linkpath') ?? text(block, 157, 100);
    const paxSize = this.#pending.get('size');
    this.#pending.clear();
    const dataSize = paxSize === undefined ? size : /^[0-9]{1,16}$/.test(paxSize) ? Number(paxSize) : NaN;
    const shown = JSON.stringify(name.slice(0, 200));
    if (!Number.isSafeInteger(dataSize)) throw new TarCheckError(`malformed tar: entry ${shown} with a malformed size`);
    if (name.length > MAX_NAME || link.length > MAX_NAME) throw new TarCheckError(`malformed tar: entry ${shown} with a name over ${MAX_NAME} bytes`);
    const kind = type === '0' ? 'file' : type === '5' ? 'directory' : type === '2' ? 'symlink' : type === '1' ? 'link' : null;
    if (kind === null) throw new TarCheckError(`malformed tar: entry ${shown} of type ${JSON.stringify(type)} (not a file, directory or link)`);
    const path = relativeEntryName(name);
    if (path === null || path === '') throw new TarCheckError(`malformed tar: entry ${shown}`);
    if (kind !== 'file' && dataSize !== 0) throw new TarCheckError(`malformed tar: ${kind} ${shown} with data`);
    if (kind === 'link') {
      const target = relativeEntryName(link);
      if (target === null || target === '') throw new TarCheckError(`malformed tar: hard link ${shown} to ${JSON.stringify(link.slice(0, 200))}`);
    }
    // Every leading part of the path, the whole path included: a naive extractor would write through a link.
    const parts = path.split('/');
    if (parts.some((_, i) => this.#links.has(parts.slice(0, i + 1).join('/')))) {
      throw new TarCheckError(`malformed tar: entry ${shown} below or over a symbolic link`);
    }
    if (kind === 'symlink') this.#links.add(path);
    for (const held of this.#held) this.push(held);
    this.#held = [];
    this.push(block);
    this.#dataLeft = dataSize + ((BLOCK - (dataSize % BLOCK)) % BLOCK);
  }
}
