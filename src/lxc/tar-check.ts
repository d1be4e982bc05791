/**
 * Checks the tar stream that comes out of a container (pullTar) on its way to the caller,
 * without copying its data: each header is read and checked before it is passed on, and a
 * file's bytes go through as the chunks they came in. The stream is the container's word
 * (its root can write the program's stdout): anything a careless extractor on the host could
 * be led astray by stops it, before the entry reaches the caller.
 *
 * Passed: files, directories, symbolic links and hard links, with pax extended headers ('x')
 * for long names, sizes, ids and times. Stopped: anything else (global 'g' headers too), a bad
 * checksum, a name that is absolute or has a ".." part (or is empty: "/"), a hard link to
 * anything but an earlier file of the archive or through a symbolic link, an entry below a
 * symbolic link, devices and fifos, a directory or link with data, more than one extended
 * header before an entry, one over 64 KiB or with a record that is not plain decimal
 * `LEN key=value`, GNU sparse records, a name over 4096 bytes, bytes after the end, and a
 * stream that ends inside an entry.
 *
 * No header of the container's goes out: each entry's header (and extended header) is written
 * afresh from the fields read here, so an extractor that reads a header differently from this
 * checker (several extended headers, a record length like "0x1f") still sees only what was
 * checked. Unknown pax keys are dropped; set-id and sticky bits are cleared unless kept.
 */
import { Transform, TransformCallback } from 'node:stream';

import { relativeEntryName } from './file-frames';

const BLOCK = 512;
const MAX_EXTENDED = 64 * 1024;
const MAX_NAME = 4096;
/** The pax keys read; any other key is dropped (GNU.sparse.* refused: it changes what the data is). */
const PAX_KEYS = new Set(['path', 'linkpath', 'size', 'uid', 'gid', 'mtime', 'atime', 'ctime', 'uname', 'gname']);

/** What a check found wrong; the message names the entry as the archive did (JSON-quoted). */
export class TarCheckError extends Error {}

function text(block: Buffer, at: number, width: number): string {
  const field = block.subarray(at, at + width);
  const nul = field.indexOf(0);
  return field.subarray(0, nul === -1 ? width : nul).toString('latin1');
}

/** An octal field, or base-256 (first byte 0x80); null when it is neither. */
function tarNumber(block: Buffer, at: number, width: number): number | null {
  if (block[at] === 0x80) {
    let value = 0;
    for (let i = at + 1; i < at + width; i++) value = value * 256 + block[i]!;
    return Number.isSafeInteger(value) ? value : null;
  }
  const digits = text(block, at, width).replace(/^ +| +$/g, '');
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

/**
 * The records of a pax extended header that this checker reads (names as latin1, so every
 * byte comes back out as it came). A length is plain decimal, as GNU tar and tar-stream read it.
 */
function paxRecords(data: Buffer): Map<string, string> {
  const records = new Map<string, string>();
  let at = 0;
  while (at < data.length) {
    const space = data.indexOf(0x20, at);
    const digits = space === -1 ? '' : data.subarray(at, space).toString('latin1');
    const length = /^[1-9][0-9]{0,9}$/.test(digits) ? Number(digits) : NaN;
    if (!(length > space - at + 1) || at + length > data.length || data[at + length - 1] !== 0x0a) {
      throw new TarCheckError('malformed tar: an extended header record does not parse');
    }
    const record = data.subarray(space + 1, at + length - 1).toString('latin1');
    const equals = record.indexOf('=');
    if (equals === -1) throw new TarCheckError('malformed tar: an extended header record does not parse');
    const key = record.slice(0, equals);
    if (key.startsWith('GNU.sparse.')) throw new TarCheckError('malformed tar: a sparse file (GNU.sparse records)');
    if (PAX_KEYS.has(key)) records.set(key, record.slice(equals + 1));
    at += length;
  }
  return records;
}

/** A pax number (decimal; times may have a fraction, kept as whole seconds), null when malformed. */
function paxNumber(value: string | undefined, signed: boolean): number | null | undefined {
  if (value === undefined) return undefined;
  const m = (signed ? /^(-?[0-9]{1,16})(?:\.[0-9]{1,9})?$/ : /^([0-9]{1,16})$/).exec(value);
  return m ? Number(m[1]) : null;
}

/** One pax record, its length counting itself. */
function paxRecord(key: string, value: string): string {
  const rest = Buffer.byteLength(key, 'latin1') + Buffer.byteLength(value, 'latin1') + 3;
  let length = rest + 1;
  while (String(length).length + rest !== length) length++;
  return `${length} ${key}=${value}\n`;
}

function putOctal(block: Buffer, at: number, width: number, value: number): void {
  block.write(value.toString(8).padStart(width - 1, '0') + '\0', at, 'latin1');
}

function finishHeader(block: Buffer): Buffer {
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of block) sum += byte;
  block.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
  return block;
}

function fitsOctal(width: number, value: number): boolean {
  return value >= 0 && value < 8 ** (width - 1);
}

interface Entry {
  type: string;
  name: string;
  link: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
}

/** A fresh ustar header for `e`, after an 'x' header for what a field cannot hold. */
export function encodeEntry(e: Entry): Buffer {
  const block = Buffer.alloc(BLOCK);
  let pax = '';
  const nameBytes = Buffer.from(e.name, 'latin1');
  if (nameBytes.length <= 100) nameBytes.copy(block, 0);
  else {
    // ustar's prefix: the name split at a "/" into at most 155 and 100 bytes.
    const slash = e.name.lastIndexOf('/', 155);
    if (slash > 0 && nameBytes.length - slash - 1 <= 100 && nameBytes.length - slash - 1 > 0) {
      nameBytes.copy(block, 345, 0, slash);
      nameBytes.copy(block, 0, slash + 1);
    } else {
      pax += paxRecord('path', e.name);
      nameBytes.copy(block, 0, 0, 100);
    }
  }
  const linkBytes = Buffer.from(e.link, 'latin1');
  if (linkBytes.length <= 100) linkBytes.copy(block, 157);
  else pax += paxRecord('linkpath', e.link);
  putOctal(block, 100, 8, e.mode);
  const number = (at: number, width: number, value: number, key: string): void => {
    if (fitsOctal(width, value)) putOctal(block, at, width, value);
    else pax += paxRecord(key, String(value));
  };
  number(108, 8, e.uid, 'uid');
  number(116, 8, e.gid, 'gid');
  number(124, 12, e.size, 'size');
  number(136, 12, e.mtime, 'mtime');
  block[156] = e.type.charCodeAt(0);
  block.write('ustar\0' + '00', 257, 'latin1');
  finishHeader(block);
  if (pax === '') return block;
  const data = Buffer.from(pax, 'latin1');
  const x = Buffer.alloc(BLOCK);
  x.write('././@PaxHeader', 0, 'latin1');
  putOctal(x, 100, 8, 0o644);
  putOctal(x, 124, 12, data.length);
  putOctal(x, 136, 12, 0);
  x[156] = 'x'.charCodeAt(0);
  x.write('ustar\0' + '00', 257, 'latin1');
  finishHeader(x);
  return Buffer.concat([x, data, Buffer.alloc((BLOCK - (data.length % BLOCK)) % BLOCK), block]);
}

export interface TarCheckOptions {
  /** Keep set-user-id, set-group-id and sticky bits (cleared by default). */
  keepSetId?: boolean;
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
  /** The extended header's records, read but waiting for the entry they belong to (one at most). */
  #pending: Map<string, string> | null = null;
  #zeroBlocks = 0;
  readonly #links = new Set<string>();
  /** Regular files so far: the only targets a hard link may have. */
  readonly #files = new Set<string>();
  readonly #keepSetId: boolean;
  #failed = false;

  constructor(hooks: TarCheckHooks, options: TarCheckOptions = {}) {
    super({ readableHighWaterMark: 1024 * 1024, writableHighWaterMark: 1024 * 1024 });
    this.#hooks = hooks;
    this.#keepSetId = options.keepSetId === true;
  }

  #throughLink(path: string): boolean {
    const parts = path.split('/');
    return parts.some((_, i) => this.#links.has(parts.slice(0, i + 1).join('/')));
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
    this.#pending = paxRecords(ext.data.subarray(0, ext.size));
  }

  #checkHeader(block: Buffer): void {
    if (block.every((b) => b === 0)) {
      if (this.#pending) throw new TarCheckError('malformed tar: an extended header without its entry');
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
      // GNU tar and tar-stream read only the last of several; this checker would read them all.
      if (this.#pending) throw new TarCheckError('malformed tar: two extended headers before one entry');
      this.#extended = { data: Buffer.alloc(Math.ceil(size / BLOCK) * BLOCK), size, fill: 0 };
      if (size === 0) this.#extendedDone(this.#extended);
      return;
    }
    const ustar = block.subarray(257, 263).equals(Buffer.from('ustar\0'));
    const prefix = ustar ? text(block, 345, 155) : '';
    const pax = this.#pending ?? new Map<string, string>();
    this.#pending = null;
    const name = pax.get('path') ?? (prefix ? `${prefix}/${text(block, 0, 100)}` : text(block, 0, 100));
    const link = pax.get('linkpath') ?? text(block, 157, 100);
    const shown = JSON.stringify(Buffer.from(name.slice(0, 200), 'latin1').toString());
    const dataSize = paxNumber(pax.get('size'), false) ?? size;
    const mode = tarNumber(block, 100, 8);
    const uid = paxNumber(pax.get('uid'), false) ?? tarNumber(block, 108, 8);
    const gid = paxNumber(pax.get('gid'), false) ?? tarNumber(block, 116, 8);
    const mtime = paxNumber(pax.get('mtime'), true) ?? tarNumber(block, 136, 12);
    if (!Number.isSafeInteger(dataSize)) throw new TarCheckError(`malformed tar: entry ${shown} with a malformed size`);
    if (mode === null || uid === null || gid === null || mtime === null)
      throw new TarCheckError(`malformed tar: entry ${shown} with a malformed mode, owner or time`);
    if (name.length > MAX_NAME || link.length > MAX_NAME) throw new TarCheckError(`malformed tar: entry ${shown} with a name over ${MAX_NAME} bytes`);
    const kind = type === '0' ? 'file' : type === '5' ? 'directory' : type === '2' ? 'symlink' : type === '1' ? 'link' : null;
    if (kind === null) throw new TarCheckError(`malformed tar: entry ${shown} of type ${JSON.stringify(type)} (not a file, directory or link)`);
    const path = relativeEntryName(name);
    if (path === null || path === '') throw new TarCheckError(`malformed tar: entry ${shown}`);
    if (kind !== 'file' && dataSize !== 0) throw new TarCheckError(`malformed tar: ${kind} ${shown} with data`);
    // Every leading part of the path, the whole path included: a naive extractor would write through a link.
    if (this.#throughLink(path)) throw new TarCheckError(`malformed tar: entry ${shown} below or over a symbolic link`);
    let target = link;
    if (kind === 'link') {
      // Only an earlier file of this archive, reached without a symbolic link on the way: an
      // extractor links to whatever the name finds on the host.
      const to = relativeEntryName(link);
      if (to === null || to === '' || !this.#files.has(to) || this.#throughLink(to)) {
        throw new TarCheckError(`malformed tar: hard link ${shown} to ${JSON.stringify(Buffer.from(link.slice(0, 200), 'latin1').toString())}`);
      }
      target = to;
    }
    if (kind === 'symlink') this.#links.add(path);
    if (kind === 'file') this.#files.add(path);
    else this.#files.delete(path);
    this.push(
      encodeEntry({
        type,
        name: kind === 'directory' ? `${path}/` : path,
        link: kind === 'file' || kind === 'directory' ? '' : target,
        mode: mode & (this.#keepSetId ? 0o7777 : 0o777),
        uid,
        gid,
        size: dataSize,
        mtime,
      }),
    );
    this.#dataLeft = dataSize + ((BLOCK - (dataSize % BLOCK)) % BLOCK);
  }
}
