/**
 * Files in and out of a running container: pushFile/pullFile and trees as tar streams.
 *
 * Everything inside the container is done by lxcts-files (addon/files_program.cc), attached
 * like any command but executed from the host's build, so a container needs no tar (nor any
 * program) of its own, and every path resolves in the container's own mount namespace as
 * its root: a link planted in the rootfs can only lead to another file of the container, and
 * owners are the container's ids (the kernel maps them for an unprivileged container). Trees
 * go in and out as tar, which the program reads and writes itself: pushTar hands the caller's
 * bytes to it untouched, and pullTar passes its output on through a header checker
 * (tar-check.ts) that copies no data. Single files go in as the program's frames
 * (file-frames.ts). Everything streams with back-pressure: memory stays bounded whatever the size.
 */
import * as fs from 'node:fs/promises';
import { constants as fsConstants } from 'node:fs';
import { PassThrough, Readable, Writable } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { LxcError, LxcErrorCode } from './errors';
import { chunkLength, encodeFrame, END_FRAME, MAX_CHUNK } from './file-frames';
import type { ContainerProcess } from './process';
import { TarChecker } from './tar-check';
import { describe, expectOptions } from './validate';

/** A deadline and a cancel for the files calls, as exec() takes them. */
export interface FileCallOptions {
  /**
   * Seconds before the program in the container is stopped and the call (or the stream it
   * returned) fails with LXC_TIMEOUT. A file being pushed is then not left half written.
   */
  timeout?: number;
  /** Aborting stops the program the same way and fails the call (or the stream) with an AbortError. */
  signal?: AbortSignal;
}

export interface PushFileOptions extends FileCallOptions {
  /** Permission bits of the new file. Default: the host file's (0644 for a stream). */
  mode?: number;
  /** Owner inside the container (the kernel maps it for an unprivileged container). Default: 0. */
  uid?: number;
  /** Group inside the container. Default: 0. */
  gid?: number;
}

export interface PullTarOptions extends FileCallOptions {
  /**
   * Keep set-user-id, set-group-id and sticky bits in the modes handed out. Default: cleared,
   * so a set-id file of the container's making does not become one on a host extracting as root.
   */
  keepSetId?: boolean;
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
  /** @internal Runs lxcts-files with `args` in the container, stopped on `limits`' timeout or abort. */
  spawnFilesProgram(op: string, args: string[], pipeStdin: boolean, limits?: FileCallOptions): Promise<ContainerProcess>;
}

/** Only the deadline and the signal (their types are checked where the program is spawned). */
function limitsOf(options: unknown, what: string): FileCallOptions {
  const o = expectOptions<FileCallOptions>(options, what);
  return { ...(o.timeout !== undefined ? { timeout: o.timeout } : {}), ...(o.signal !== undefined ? { signal: o.signal } : {}) };
}

/** What the program's stdout says after a pushTar, kept up to a bound (it is the container's word). */
const REPORT_LIMIT = 16 * 1024 * 1024;

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

/**
 * How long the program's stdout may stay open after it exited while the reader keeps up: a
 * process of the container that took a copy of the pipe (root there can) would otherwise hold
 * the call forever.
 */
const OUTPUT_GRACE_MS = 3000;

/**
 * Waits, after the program exited, for its stdout to end: until the call's deadline (from its
 * `timeout`), and without one as long as the reader is `behind` (bytes it has not read yet)
 * or for OUTPUT_GRACE_MS of keeping up. Past that the output is closed and the call fails
 * with LXC_TIMEOUT, as exec() does with an output a process it started keeps open.
 */
async function outputEnd(stream: Readable, o: { op: string; container: string; deadline: number | undefined; behind?: () => boolean }): Promise<void> {
  const ended = finished(stream, { writable: false }).then(() => true);
  ended.catch(() => undefined);
  const stop = new AbortController();
  try {
    for (;;) {
      const wait = o.deadline === undefined ? OUTPUT_GRACE_MS : Math.min(OUTPUT_GRACE_MS, o.deadline - Date.now());
      if (await Promise.race([ended, sleep(Math.max(0, wait), false, { signal: stop.signal }).catch(() => false)])) return;
      if ((o.deadline !== undefined && Date.now() >= o.deadline) || !o.behind?.()) break;
    }
  } finally {
    stop.abort();
  }
  stream.destroy();
  throw new LxcError(`${o.op} in container "${o.container}": lxcts-files exited, but its output was still open: a process of the container keeps it open`, {
    code: 'LXC_TIMEOUT',
    op: o.op,
    container: o.container,
  });
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

/** Rejects when the program ends first (stopped, or failed): whoever writes to it need not wait on. */
function stoppedEarly(proc: ContainerProcess): Promise<never> {
  return proc.wait().then(
    () => Promise.reject(new Error('lxcts-files stopped reading')),
    (err: unknown) => Promise.reject(err instanceof Error ? err : new Error(String(err))),
  );
}

/**
 * Sends frames to `lxcts-files put`, then waits for it. A failure of the program (it
 * refused an entry, a write failed) is the error, not the EPIPE it causes here.
 */
async function put(host: FilesHost, op: string, args: string[], limits: FileCallOptions, write: (stdin: Writable) => Promise<void>): Promise<void> {
  const proc = await host.spawnFilesProgram(op, ['put', ...args], true, limits);
  const stderr = collectStderr(proc);
  proc.stdout.resume();
  let writeError: Error | undefined;
  try {
    // A program stopped (timeout, abort) while the source has nothing to give ends the wait.
    await Promise.race([write(proc.stdin), stoppedEarly(proc)]);
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
 * absolute path in the container; its directory must exist. The file is written under a
 * temporary name beside it and renamed into place once whole: an existing file there is
 * replaced (a link there is replaced, never written through), and stays as it was when the
 * push fails, times out or is aborted.
 */
export async function pushFile(host: FilesHost, source: string | Readable, dest: string, options: PushFileOptions = {}): Promise<void> {
  const op = 'pushFile';
  const target = checkContainerPath(dest, 'dest', op, host.name);
  const o = expectOptions<PushFileOptions>(options, 'pushFile options');
  const limits = limitsOf(o, 'pushFile options');
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
    await put(host, op, [path.posix.dirname(target)], limits, async (stdin) => {
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
export async function pullFile(host: FilesHost, file: string, options: FileCallOptions = {}): Promise<Readable> {
  const op = 'pullFile';
  const source = checkContainerPath(file, 'path', op, host.name);
  const limits = limitsOf(options, 'pullFile options');
  const deadline = limits.timeout === undefined ? undefined : Date.now() + limits.timeout * 1000;
  const proc = await host.spawnFilesProgram(op, ['cat', source], false, limits);
  const stderr = collectStderr(proc);
  const out = new PassThrough({ highWaterMark: 256 * 1024 });
  proc.stdout.pipe(out, { end: false });
  const behind = () => out.readableLength > 0 || proc.stdout.readableLength > 0;
  void finish(proc, stderr, op, host.name)
    .then(() => outputEnd(proc.stdout, { op, container: host.name, deadline, behind }))
    .then(
      () => out.end(),
      (err: Error) => out.destroy(err),
    );
  out.once('close', () => {
    if (!proc.stdout.readableEnded) proc.stdout.destroy();
  });
  return out;
}

/**
 * The tree at `source` in the running container as a tar stream: files, directories and
 * symbolic links (as links, never followed; `source` itself is followed when it is one),
 * hard links as links to the first name, modes, owners as the container's ids and
 * modification times (set-id and sticky bits cleared unless `keepSetId`; headers are written
 * afresh from the checked fields). Entries are named from the source's last name (`/etc` gives `etc/...`).
 * Devices, fifos and sockets are left out. Read it as it comes: it is produced as it is read.
 * The program in the container writes the tar; every header is checked here on its way
 * (tar-check.ts) and the stream fails rather than pass on an entry a careless extractor
 * could be misled by.
 */
export async function pullTar(host: FilesHost, source: string, options: PullTarOptions = {}): Promise<Readable> {
  const op = 'pullTar';
  const from = checkContainerPath(source, 'path', op, host.name);
  const keepSetId = expectOptions<PullTarOptions>(options, 'pullTar options').keepSetId;
  if (keepSetId !== undefined && typeof keepSetId !== 'boolean') throw new TypeError(`Expected a boolean for keepSetId but received ${describe(keepSetId)}`);
  const proc = await host.spawnFilesProgram(op, ['tar', from], false, limitsOf(options, 'pullTar options'));
  const stderr = collectStderr(proc);
  const out = new TarChecker(
    {
      finish: () => finish(proc, stderr, op, host.name),
      // The program's own account of what went wrong (or the timeout, the abort), when it has one.
      explain: async (err) => {
        proc.kill('SIGKILL');
        let status;
        try {
          status = await proc.wait();
        } catch (stopped) {
          return stopped as Error;
        }
        const said = await stderr();
        return status.exitCode !== 0 && said ? fileError(op, host.name, said, '') : err;
      },
    },
    { keepSetId },
  );
  proc.stdout.on('error', (err) => out.destroy(err));
  proc.stdout.pipe(out);
  out.once('close', () => {
    if (!proc.stdout.readableEnded) {
      proc.stdout.destroy();
      proc.kill('SIGKILL');
    }
  });
  return out;
}

/** `skip TYPE NAME` lines (both in hex) and `entries N`, as `lxcts-files untar` reports. */
function parseReport(report: string): PushTarResult | null {
  const result: PushTarResult = { entries: 0, skipped: [] };
  const lines = report.split('\n');
  if (lines.pop() !== '') return null;
  const last = /^entries (\d+)$/.exec(lines.pop() ?? '');
  if (!last) return null;
  result.entries = Number(last[1]);
  for (const line of lines) {
    const skip = /^skip ([0-9a-f]{2}) ((?:[0-9a-f]{2})*)$/.exec(line);
    if (!skip) return null;
    result.skipped.push({ name: Buffer.from(skip[2]!, 'hex').toString(), type: TAR_TYPES[String.fromCharCode(parseInt(skip[1]!, 16))] ?? 'unknown' });
  }
  return result;
}

/** Names of tar's entry types, as tar-stream gives them. */
const TAR_TYPES: Record<string, string> = {
  '3': 'character-device',
  '4': 'block-device',
  '6': 'fifo',
  S: 'gnu-sparse',
  D: 'gnu-dumpdir',
  M: 'gnu-multivol',
  V: 'gnu-volume-header',
};

/**
 * Writes the tar stream `source` below `dest` in the running container (made, with its
 * parents, when missing). Entries keep their modes, owners (as ids of the container),
 * times, symbolic links (written as they are; absolute targets too) and hard links. Refused
 * with LXC_FILE_REFUSED, and nothing more written: an absolute name or one with a ".." part,
 * a hard link to outside the tree, and any entry below a symbolic link (the program walks
 * every path without following links). Devices and fifos are left out (`skipped`).
 */
export async function pushTar(
  host: FilesHost,
  source: Readable | AsyncIterable<Uint8Array>,
  dest: string,
  options: FileCallOptions = {},
): Promise<PushTarResult> {
  const op = 'pushTar';
  const target = checkContainerPath(dest, 'dest', op, host.name);
  if (typeof (source as Partial<AsyncIterable<Uint8Array>>)?.[Symbol.asyncIterator] !== 'function') {
    throw new TypeError(`Expected a Readable tar stream for source but received ${describe(source)}`);
  }
  const limits = limitsOf(options, 'pushTar options');
  const deadline = limits.timeout === undefined ? undefined : Date.now() + limits.timeout * 1000;
  const proc = await host.spawnFilesProgram(op, ['untar', target, '--mkdir'], true, limits);
  const stderr = collectStderr(proc);
  let report = '';
  proc.stdout.on('data', (chunk: Buffer) => {
    if (report.length < REPORT_LIMIT) report += chunk.toString('latin1');
  });
  // The caller's bytes go to the program as they are: it parses and checks the archive. A
  // program that failed or was stopped (timeout, abort) ends the copy, even from a source
  // with nothing to give; one that succeeded has read to the end, so the copy is done.
  const stop = new AbortController();
  const exited = proc.wait().then(
    (status) => status.exitCode !== 0 && stop.abort(),
    () => stop.abort(),
  );
  let sourceError: Error | undefined;
  try {
    await pipeline(source, proc.stdin, { signal: stop.signal });
  } catch (err) {
    if (!stop.signal.aborted) {
      // The source failed (or the program went away under it): the program must not take
      // its input's end for the archive's.
      sourceError = err instanceof Error ? err : new Error(String(err));
      proc.kill('SIGTERM');
    }
  }
  await exited;
  try {
    await finish(proc, stderr, op, host.name);
  } catch (err) {
    // Stopped by us for the source's sake, the program said nothing: the source's error is the story.
    if (sourceError !== undefined && !(await stderr())) throw sourceError;
    throw err;
  }
  if (sourceError !== undefined) throw sourceError;
  // Read as it comes (never behind): only the grace after the exit, or the deadline.
  await outputEnd(proc.stdout, { op, container: host.name, deadline }).catch((err: unknown) => {
    if (err instanceof LxcError) throw err;
  });
  const result = parseReport(report);
  if (result === null)
    throw new LxcError(`${op} in container "${host.name}": lxcts-files gave no account of what it wrote`, {
      code: 'LXC_FILE_FAILED',
      op,
      container: host.name,
    });
  return result;
}
