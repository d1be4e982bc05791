/**
 * Files in and out of a running container: pushFile/pullFile and trees as tar streams.
 *
 * Everything inside the container is done by lxcts-files (addon/files_program.cc), attached
 * like any command but executed from the host's build, so a container needs no tar (nor any
 * program) of its own, and every path resolves in the container's own mount namespace as
 * its root: a link planted in the rootfs can only lead to another file of the container, and
 * owners are the container's ids (the kernel maps them for an unprivileged container). This
 * side converts tar ⇄ the program's frames (file-frames.ts) with tar-stream and streams
 * everything with back-pressure: memory stays bounded whatever the size.
 */
import * as fs from 'node:fs/promises';
import { constants as fsConstants } from 'node:fs';
import { PassThrough, Readable, Writable } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import * as path from 'node:path';
import type * as TarStream from 'tar-stream';

import { LxcError, LxcErrorCode } from './errors';
import { ByteReader, chunkLength, encodeFrame, END_FRAME, Frame, MAX_CHUNK, readFrame, relativeEntryName } from './file-frames';
import type { ContainerProcess } from './process';
import { describe, expectOptions } from './validate';

export interface PushFileOptions {
  /** Permission bits of the new file. Default: the host file's (0644 for a stream). */
  mode?: number;
  /** Owner inside the container (the kernel maps it for an unprivileged container). Default: 0. */
  uid?: number;
  /** Group inside the container. Default: 0. */
  gid?: number;
}

export interface PushTarResult {
  /** Entries written: files, directories, links. */
  entries: number;
  /** Entries a container cannot be given this way (devices, fifos), left out. */
  skipped: { name: string; type: string }[];
}

/** What files.ts needs of a Container (kept as an interface: no import cycle). */
export interface FilesHost {
  readonly name: string;
  /** @internal Runs lxcts-files with `args` in the container. */
  spawnFilesProgram(op: string, args: string[], pipeStdin: boolean): Promise<ContainerProcess>;
}

/**
 * tar-stream, loaded on the first tar call: `require('lxcts')` stays free of it (a binding
 * that only starts containers loads no tar code, and its missing-addon message needs no
 * node_modules).
 */
function tar(): typeof TarStream {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('tar-stream') as typeof TarStream;
}

/** What the program said on stderr, kept up to a bound. */
const STDERR_LIMIT = 64 * 1024;

function checkContainerPath(value: unknown, what: string, op: string, container: string): string {
  if (typeof value !== 'string') throw new TypeError(`Expected an absolute path inside the container for ${what} but received ${describe(value)}`);
  if (!value.startsWith('/') || value.includes('\0')) {
    throw new LxcError(`${what} must be an absolute path inside the container without NUL bytes, not ${JSON.stringify(value)}`, {
      code: 'LXC_FILE_REFUSED',
      op,
      container,
    });
  }
  return value;
}

function checkId(value: unknown, what: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 0xfffffffe) {
    throw new TypeError(`Expected a non-negative integer for ${what} but received ${describe(value)}`);
  }
  return value;
}

function checkMode(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 0o7777) {
    throw new TypeError(`Expected a mode from 0 to 0o7777 for mode but received ${describe(value)}`);
  }
  return value;
}

/**
 * The program's stderr, read as it comes (so it never blocks on it), up to a bound; the
 * function resolves once all of it has been read (the program has no children to hold it).
 */
function collectStderr(proc: ContainerProcess): () => Promise<string> {
  let text = '';
  proc.stderr.on('data', (chunk: Buffer) => {
    if (text.length < STDERR_LIMIT) text += chunk.toString();
  });
  const ended = finished(proc.stderr).catch(() => undefined);
  return async () => {
    await ended;
    return text.trim();
  };
}

/** Control characters and bidi overrides as \\uXXXX: the program's words come from inside the container and reach terminals. */
function printable(text: string): string {
  // eslint-disable-next-line no-control-regex
  const unprintable = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
  return text.replace(unprintable, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function fileError(op: string, container: string, stderr: string, fallback: string): LxcError {
  const message = printable(stderr.replace(/^lxcts-files: /gm, '')) || fallback;
  const code: LxcErrorCode = /: refused:|not followed\)/.test(stderr) ? 'LXC_FILE_REFUSED' : 'LXC_FILE_FAILED';
  return new LxcError(`${op} in container "${container}": ${message}`, { code, op, container });
}

/** Waits for the program; an LxcError with its stderr when it failed. */
async function finish(proc: ContainerProcess, stderr: () => Promise<string>, op: string, container: string): Promise<void> {
  const status = await proc.wait();
  if (status.exitCode !== 0) {
    throw fileError(op, container, await stderr(), `lxcts-files ended with ${status.exitCode === null ? status.signal : `exit status ${status.exitCode}`}`);
  }
}

/** Writes with back-pressure; never waits forever on a stdin the program has closed. */
async function send(stdin: Writable, data: Buffer): Promise<void> {
  if (stdin.destroyed) throw new Error('lxcts-files stopped reading');
  if (stdin.write(data)) return;
  await new Promise<void>((resolve) => {
    const done = () => {
      stdin.off('drain', done);
      stdin.off('close', done);
      resolve();
    };
    stdin.on('drain', done);
    stdin.on('close', done);
  });
  if (stdin.destroyed) throw new Error('lxcts-files stopped reading');
}

/** A file's bytes as chunks of the frame format. */
async function sendData(stdin: Writable, data: AsyncIterable<Buffer | string>): Promise<void> {
  for await (const piece of data) {
    const buffer = typeof piece === 'string' ? Buffer.from(piece) : piece;
    for (let at = 0; at < buffer.length; at += MAX_CHUNK) {
      const chunk = buffer.subarray(at, at + MAX_CHUNK);
      // One write: a length and its bytes apart would be two trips through the pipe.
      await send(stdin, Buffer.concat([chunkLength(chunk.length), chunk]));
    }
  }
  await send(stdin, chunkLength(0));
}

/**
 * Sends frames to `lxcts-files put`, then waits for it. A failure of the program (it
 * refused an entry, a write failed) is the error, not the EPIPE it causes here.
 */
async function put(host: FilesHost, op: string, args: string[], write: (stdin: Writable) => Promise<void>): Promise<void> {
  const proc = await host.spawnFilesProgram(op, ['put', ...args], true);
  const stderr = collectStderr(proc);
  proc.stdout.resume();
  let writeError: Error | undefined;
  try {
    await write(proc.stdin);
    await send(proc.stdin, END_FRAME);
    proc.stdin.end();
  } catch (err) {
    writeError = err instanceof Error ? err : new Error(String(err));
    // The program sees its input end without the end frame and stops, writing no more.
    proc.stdin.destroy();
  }
  await proc.wait();
  // Our own refusal first: the program then only says that its input ended early.
  if (writeError instanceof LxcError) throw writeError;
  await finish(proc, stderr, op, host.name);
  if (writeError !== undefined) throw writeError;
}

/**
 * Copies one file into the running container: `source` is a path of the host (a regular
 * file; a symbolic link is refused, never followed) or a stream. `dest` is the new file's
 * absolute path in the container; its directory must exist. An existing file there is
 * replaced (a link there is replaced, never written through).
 */
export async function pushFile(host: FilesHost, source: string | Readable, dest: string, options: PushFileOptions = {}): Promise<void> {
  const op = 'pushFile';
  const target = checkContainerPath(dest, 'dest', op, host.name);
  const o = expectOptions<PushFileOptions>(options, 'pushFile options');
  let mode = checkMode(o.mode);
  const uid = checkId(o.uid, 'uid', 0);
  const gid = checkId(o.gid, 'gid', 0);
  const name = path.posix.basename(target);
  if (target.endsWith('/') || name === '' || name === '.' || name === '..') {
    throw new LxcError(`dest must name a file, not ${JSON.stringify(target)}`, { code: 'LXC_FILE_REFUSED', op, container: host.name });
  }
  if (typeof source !== 'string' && !(source instanceof Readable)) {
    throw new TypeError(`Expected a host path or a Readable for source but received ${describe(source)}`);
  }
  let file: fs.FileHandle | undefined;
  let mtime = -1;
  if (typeof source === 'string') {
    try {
      file = await fs.open(source, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NOCTTY | fsConstants.O_NONBLOCK);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      const why = e.code === 'ELOOP' ? 'it is a symbolic link (not followed)' : e.message;
      throw new LxcError(`cannot read ${source}: ${why}`, { code: e.code === 'ELOOP' ? 'LXC_FILE_REFUSED' : 'LXC_FILE_FAILED', op, container: host.name });
    }
    const st = await file.stat();
    if (!st.isFile()) {
      await file.close();
      throw new LxcError(`cannot push ${source}: not a regular file`, { code: 'LXC_FILE_REFUSED', op, container: host.name });
    }
    mode ??= st.mode & 0o777;
    mtime = Math.floor(st.mtimeMs / 1000);
  }
  const data = file ? file.createReadStream({ highWaterMark: 256 * 1024 }) : (source as Readable);
  try {
    await put(host, op, [path.posix.dirname(target)], async (stdin) => {
      await send(stdin, encodeFrame({ type: 'file', path: name, link: '', mode: mode ?? 0o644, uid, gid, mtime, size: 0 }));
      await sendData(stdin, data);
    });
  } finally {
    data.destroy();
  }
}

/**
 * A stream of one file of the running container (links on the way are followed as the
 * container resolves them). It fails with LXC_FILE_FAILED when the file cannot be read, and
 * ends only once the whole file has come.
 */
export async function pullFile(host: FilesHost, file: string): Promise<Readable> {
  const op = 'pullFile';
  const source = checkContainerPath(file, 'path', op, host.name);
  const proc = await host.spawnFilesProgram(op, ['cat', source], false);
  const stderr = collectStderr(proc);
  const out = new PassThrough({ highWaterMark: 256 * 1024 });
  proc.stdout.pipe(out, { end: false });
  void Promise.all([new Promise((resolve) => proc.stdout.once('end', resolve)), finish(proc, stderr, op, host.name)]).then(
    () => out.end(),
    (err: Error) => out.destroy(err),
  );
  out.once('close', () => {
    if (!proc.stdout.readableEnded) proc.stdout.destroy();
  });
  return out;
}

function tarType(type: Frame['type']): TarStream.Header['type'] {
  return type === 'directory' ? 'directory' : type === 'symlink' ? 'symlink' : type === 'link' ? 'link' : 'file';
}

/**
 * The tree at `source` in the running container as a tar stream: files, directories and
 * symbolic links (as links, never followed; `source` itself is followed when it is one),
 * hard links as links to the first name, modes, owners as the container's ids and
 * modification times. Entries are named from the source's last name (`/etc` gives `etc/...`).
 * Devices, fifos and sockets are left out. Read it as it comes: it is produced as it is read.
 */
export async function pullTar(host: FilesHost, source: string): Promise<Readable> {
  const op = 'pullTar';
  const from = checkContainerPath(source, 'path', op, host.name);
  const proc = await host.spawnFilesProgram(op, ['get', from], false);
  const stderr = collectStderr(proc);
  const pack = tar().pack();
  // The program's output is the container's word: a name below a symbolic link it sent
  // would have a naive extractor write through that link on the host.
  const links = new Set<string>();
  const out = new PassThrough({ highWaterMark: 256 * 1024 });
  const pump = async () => {
    const reader = new ByteReader(proc.stdout);
    for (;;) {
      const frame = await readFrame(reader);
      if (frame.type === 'end') break;
      // Every leading part of the path, the whole path included.
      const below = frame.path.split('/').find((_, i, parts) => links.has(parts.slice(0, i + 1).join('/')));
      if (below !== undefined) throw new Error(`malformed frame: entry ${JSON.stringify(frame.path)} below or over a symbolic link`);
      if (frame.type === 'symlink') links.add(frame.path);
      const header: Partial<TarStream.Header> & { name: string } = {
        name: frame.type === 'directory' ? `${frame.path}/` : frame.path,
        type: tarType(frame.type),
        mode: frame.mode,
        uid: frame.uid,
        gid: frame.gid,
        mtime: new Date(frame.mtime * 1000),
        size: frame.type === 'file' ? frame.size : 0,
        ...(frame.type === 'symlink' || frame.type === 'link' ? { linkname: frame.link } : {}),
      };
      await new Promise<void>((resolve, reject) => {
        const entry = pack.entry(header, (err) => (err ? reject(err) : resolve()));
        // Without it, the entry's error (the pack destroyed by a reader that went away) would be uncaught.
        entry.on('error', reject);
        if (frame.type !== 'file') return;
        void (async () => {
          // Never more nor less than the frame said: tar-stream passes bytes on as they come, and
          // extra ones would be read as the next header, an entry no check here has seen.
          let written = 0;
          for (;;) {
            const length = (await reader.read(4)).readUInt32LE(0);
            if (length === 0) break;
            if (length > MAX_CHUNK || written + length > frame.size) throw new Error('malformed chunk');
            written += length;
            if (!entry.write(await reader.read(length))) await new Promise<void>((r) => entry.once('drain', () => r()));
          }
          if (written !== frame.size) throw new Error('malformed chunk: the file ended short of its size');
          entry.end(undefined);
        })().catch(reject);
      });
    }
    await finish(proc, stderr, op, host.name);
    pack.finalize();
  };
  pipeline(pack, out).catch((err: unknown) => out.destroy(err as Error));
  pump().catch(async (err: unknown) => {
    proc.kill('SIGKILL');
    // The program's own account of what went wrong, when it has one.
    const status = await proc.wait().catch(() => null);
    const said = await stderr();
    const failure = status && status.exitCode !== 0 && said ? fileError(op, host.name, said, '') : err;
    pack.destroy(failure as Error);
    out.destroy(failure as Error);
  });
  out.once('close', () => {
    if (!proc.stdout.readableEnded) proc.stdout.destroy();
  });
  return out;
}

/**
 * Writes the tar stream `source` below `dest` in the running container (made, with its
 * parents, when missing). Entries keep their modes, owners (as ids of the container),
 * times, symbolic links (written as they are; absolute targets too) and hard links. Refused
 * with LXC_FILE_REFUSED, and nothing more written: an absolute name or one with a ".." part,
 * a hard link to outside the tree, and any entry below a symbolic link (the program walks
 * every path without following links). Devices and fifos are left out (`skipped`).
 */
export async function pushTar(host: FilesHost, source: Readable | AsyncIterable<Uint8Array>, dest: string): Promise<PushTarResult> {
  const op = 'pushTar';
  const target = checkContainerPath(dest, 'dest', op, host.name);
  if (typeof (source as Partial<AsyncIterable<Uint8Array>>)?.[Symbol.asyncIterator] !== 'function') {
    throw new TypeError(`Expected a Readable tar stream for source but received ${describe(source)}`);
  }
  const result: PushTarResult = { entries: 0, skipped: [] };
  const refuse = (message: string) => new LxcError(`${op} in container "${host.name}": ${message}`, { code: 'LXC_FILE_REFUSED', op, container: host.name });
  await put(host, op, [target, '--mkdir'], async (stdin) => {
    // Iterated at once: tar-stream hands entries to whoever listens when they are parsed.
    const extract = tar().extract();
    const reading = pipeline(source, extract);
    reading.catch(() => undefined); // reported through the iteration below
    for await (const entry of extract) {
      const h = entry.header;
      const name = relativeEntryName(h.name);
      if (name === null) throw refuse(`${h.name}: refused: the path is absolute or has a ".." part`);
      const type =
        h.type === 'file' || h.type === 'contiguous-file'
          ? 'file'
          : h.type === 'directory'
            ? 'directory'
            : h.type === 'symlink'
              ? 'symlink'
              : h.type === 'link'
                ? 'link'
                : null;
      if (type === null || (name === '' && type !== 'directory')) {
        result.skipped.push({ name: h.name, type: h.type ?? 'unknown' });
        entry.resume();
        continue;
      }
      let link = h.linkname ?? '';
      if (type === 'link') {
        const target = relativeEntryName(link);
        if (target === null || target === '') throw refuse(`${h.name}: refused: hard link to ${link}, outside the tree`);
        link = target;
      }
      const frame: Frame = {
        type,
        path: name === '' ? '.' : name,
        link,
        mode: (h.mode ?? 0o644) & 0o7777,
        uid: h.uid ?? -1,
        gid: h.gid ?? -1,
        mtime: h.mtime ? Math.floor(h.mtime.getTime() / 1000) : -1,
        size: 0,
      };
      await send(stdin, encodeFrame(frame));
      if (type === 'file') await sendData(stdin, entry as AsyncIterable<Buffer>);
      else entry.resume();
      result.entries++;
    }
    await reading;
  });
  return result;
}
