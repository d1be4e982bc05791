/**
 * Devices, interfaces and CRIU checkpoints: liblxc calls that fork (or leave a restored
 * container's monitor behind), run in the `lxcts-container-op` helper, one process per call
 * (addon/container_op_helper.cc), never in Node. Arguments are checked here first.
 */
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir } from 'node:fs/promises';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';

import { LxcError, LxcErrorCode } from './errors';
import { onPath } from './missing-tools';
import { attachHelperPath } from './native';
import { describe, expectBoolean, expectOptions, expectString } from './validate';

export interface CheckpointOptions {
  /** Stop the container once it is checkpointed (CRIU's dump then leaves it stopped). Default: false. */
  stop?: boolean;
  /** CRIU's verbose log in the directory (dump.log). Default: false. */
  verbose?: boolean;
}

export interface RestoreOptions {
  /** CRIU's verbose log in the directory (restore.log). Default: false. */
  verbose?: boolean;
}

/** A step of a migration, as liblxc's MIGRATE_* commands. */
export type MigrateCommand = 'pre-dump' | 'dump' | 'restore' | 'feature-check';

/** CRIU features `feature-check` can ask for (liblxc's FEATURE_MEM_TRACK, FEATURE_LAZY_PAGES). */
export type CriuFeature = 'mem-track' | 'lazy-pages';

export interface MigrateOptions {
  /** Where the images go (or come from): an absolute path. */
  directory: string;
  /** A pre-dump's images, relative to `directory`, for a dump after a pre-dump. */
  predumpDir?: string;
  /** Send memory pages to a CRIU page server instead of the directory. */
  pageServer?: { address: string; port: number };
  /** An executable registered as CRIU's action script (an absolute path). */
  actionScript?: string;
  stop?: boolean;
  verbose?: boolean;
  /** The rootfs keeps its inodes between dump and restore (zfs/btrfs send, an LVM snapshot). */
  preservesInodes?: boolean;
  /** Do not skip in-flight TCP connections (CRIU skips them by default). */
  disableSkipInFlight?: boolean;
  /** The largest deleted-but-open file CRIU saves, in bytes; 0: CRIU's default (1 MiB). */
  ghostLimit?: number;
  /** With `feature-check`: the features this machine's CRIU and kernel must have. */
  featuresToCheck?: CriuFeature[];
}

const MIGRATE_COMMANDS: readonly MigrateCommand[] = ['pre-dump', 'dump', 'restore', 'feature-check'];
const CRIU_FEATURES: Readonly<Record<CriuFeature, bigint>> = { 'mem-track': 1n, 'lazy-pages': 2n };

const execFileAsync = promisify(execFile);

/** The helper, built beside the addon and the other helpers. */
function helperPath(): string {
  return path.join(path.dirname(attachHelperPath()), 'lxcts-container-op');
}

interface Answer {
  ok?: true;
  values?: string[];
  code?: LxcErrorCode;
  message?: string;
  details?: string[];
}

/**
 * Runs one call in the helper and returns its answer: the first line it writes on fd 3.
 * End-of-file is not waited for: a restored container's monitor, forked by the helper, may
 * hold that pipe open for as long as the container runs.
 */
async function runHelper(op: string, name: string, lxcpath: string | undefined, args: string[]): Promise<Answer> {
  // The caller's PATH now: liblxc looks criu up on it.
  const child = spawn(helperPath(), [op, name, lxcpath ?? '', ...args], {
    stdio: ['ignore', 'ignore', 'ignore', 'pipe'],
    env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' },
  });
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  const answerPipe = child.stdio[3] as NodeJS.ReadableStream & { destroy(): void };
  answerPipe.setEncoding('utf8');
  let text = '';
  const line = new Promise<string | undefined>((resolve) => {
    answerPipe.on('data', (chunk: string) => {
      text += chunk;
      const end = text.indexOf('\n');
      if (end >= 0) resolve(text.slice(0, end));
    });
    answerPipe.on('end', () => resolve(undefined));
    answerPipe.on('error', () => resolve(undefined));
  });
  let status: string;
  try {
    const [code, signal] = await exited;
    status = signal ?? `status ${code}`;
  } catch (err) {
    // spawn() failed: the helper is not there (the addon was not built) or cannot run.
    answerPipe.destroy();
    return { code: 'LXC_INTERNAL', message: `cannot run lxcts-container-op: ${(err as Error).message} (npm run build:addon builds it)`, details: [] };
  }
  // Written before the helper exited: it may still be on its way through the pipe.
  const grace = new AbortController();
  const answer = await Promise.race([line, sleep(1000, undefined, { signal: grace.signal }).catch(() => undefined)]);
  grace.abort();
  answerPipe.destroy();
  if (answer === undefined) return { code: 'LXC_INTERNAL', message: `lxcts-container-op ended (${status}) without an answer`, details: [] };
  return JSON.parse(answer) as Answer;
}

async function run(op: string, helperOp: string, container: string, lxcpath: string | undefined, args: string[]): Promise<string[]> {
  const answer = await runHelper(helperOp, container, lxcpath, args);
  if (answer.ok) return answer.values ?? [];
  throw new LxcError(answer.message ?? 'failed', { code: answer.code ?? 'LXC_INTERNAL', op, container, details: answer.details ?? [] });
}

/** An address scope as the kernel records it: `global` (RT_SCOPE_UNIVERSE), `link` (RT_SCOPE_LINK: fe80::/10, IPv4 `scope link`), `host` (RT_SCOPE_HOST: loopback). */
export type AddressScope = 'global' | 'link' | 'host';

const SCOPES: readonly AddressScope[] = ['global', 'link', 'host'];

export function checkScope(value: unknown): AddressScope | null {
  if (value === undefined) return null;
  if (typeof value !== 'string' || !SCOPES.includes(value as AddressScope)) {
    throw new TypeError(`Expected one of ${SCOPES.join(', ')} for scope but received ${describe(value)}`);
  }
  return value as AddressScope;
}

/**
 * The container's addresses of one scope, read in its network namespace by the helper
 * (rtnetlink gives each address's scope, which liblxc's get_ips cannot), filtered by
 * interface and family as ipAddresses() does; lo is not left out (its addresses are `host`).
 */
export async function scopedAddresses(
  container: string,
  lxcpath: string | undefined,
  iface: string | null,
  family: string | null,
  scope: AddressScope,
): Promise<string[]> {
  const lines = await run('ipAddresses', 'addresses', container, lxcpath, []);
  const out: string[] = [];
  for (const line of lines) {
    const [name, fam, sc, address] = line.split(' ');
    if (address === undefined || sc !== scope || (iface !== null && name !== iface) || (family !== null && fam !== family)) continue;
    out.push(address);
  }
  return out;
}

/** An absolute path without NUL, control characters or ".." parts. */
function checkAbsolutePath(value: unknown, what: string): string {
  const p = expectString(value, what);
  if (!p.startsWith('/') || p.length >= 4096) throw new TypeError(`Expected an absolute path for ${what} but received ${JSON.stringify(p)}`);
  // eslint-disable-next-line no-control-regex -- control characters are what is refused
  if (/[\u0000-\u001f\u007f]/.test(p)) throw new TypeError(`Expected ${what} without control characters but received ${JSON.stringify(p)}`);
  if (p.split('/').includes('..')) throw new TypeError(`Expected ${what} without ".." parts but received ${JSON.stringify(p)}`);
  return p;
}

/**
 * A network interface name as the kernel takes it (dev_valid_name): 1 to 15 bytes, not
 * "." or "..", no "/", ":" or whitespace; here also only letters, digits and `_.-@`, and
 * no leading "-" (it would read as an option to `ip`).
 */
export function checkInterfaceName(value: unknown, what: string): string {
  const name = expectString(value, what);
  if (!/^[A-Za-z0-9_.@-]{1,15}$/.test(name) || name === '.' || name === '..' || name.startsWith('-')) {
    throw new TypeError(`Expected an interface name (1-15 letters, digits, "_", ".", "-", "@") for ${what} but received ${describe(name)}`);
  }
  return name;
}

/**
 * Each call below checks its arguments at once and returns the call itself, so that the
 * Container facade refuses bad arguments before queueing anything.
 */
export type Prepared = () => Promise<void>;

export function addDeviceNode(container: string, lxcpath: string | undefined, source: unknown, dest: unknown): Prepared {
  const src = checkAbsolutePath(source, 'source');
  const dst = dest === undefined ? '' : checkAbsolutePath(dest, 'destination');
  return async () => {
    await run('addDeviceNode', 'add-device', container, lxcpath, [src, dst]);
  };
}

export function removeDeviceNode(container: string, lxcpath: string | undefined, source: unknown, dest: unknown): Prepared {
  const src = checkAbsolutePath(source, 'source');
  const dst = dest === undefined ? '' : checkAbsolutePath(dest, 'destination');
  return async () => {
    await run('removeDeviceNode', 'remove-device', container, lxcpath, [src, dst]);
  };
}

export function attachInterface(container: string, lxcpath: string | undefined, device: unknown, dest: unknown): Prepared {
  const dev = checkInterfaceName(device, 'device');
  const dst = dest === undefined ? '' : checkInterfaceName(dest, 'destination');
  return async () => {
    await run('attachInterface', 'attach-interface', container, lxcpath, [dev, dst]);
  };
}

export function detachInterface(container: string, lxcpath: string | undefined, device: unknown, dest: unknown): Prepared {
  const dev = checkInterfaceName(device, 'device');
  const dst = dest === undefined ? '' : checkInterfaceName(dest, 'destination');
  return async () => {
    await run('detachInterface', 'detach-interface', container, lxcpath, [dev, dst]);
  };
}

/** What `criu check` says is wrong, or undefined when it passes. */
async function criuCheckProblem(): Promise<string[] | undefined> {
  try {
    await execFileAsync('criu', ['check'], { timeout: 60_000, env: { PATH: process.env.PATH ?? '' } });
    return undefined;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    const lines = `${e.stdout ?? ''}\n${e.stderr ?? ''}`.split('\n').filter((l) => l.trim() !== '');
    return lines.length > 0 ? lines : [e.message];
  }
}

function criuMissing(op: string, container: string): LxcError | undefined {
  if (onPath('criu')) return undefined;
  return new LxcError('cannot checkpoint or restore: `criu` is not installed (not found on PATH): apt-get install criu (scripts/setup-host.sh installs it)', {
    code: 'LXC_CRIU_UNAVAILABLE',
    op,
    container,
  });
}

/**
 * A CRIU call: refused with LXC_CRIU_UNAVAILABLE naming the tool when criu is not on the
 * PATH; when liblxc fails and `criu check` fails too, LXC_CRIU_UNAVAILABLE with what criu
 * says this machine lacks (its log lines in `details`).
 */
async function criuCall(op: string, helperOp: string, container: string, lxcpath: string | undefined, args: string[], makeDir?: string): Promise<void> {
  const missing = criuMissing(op, container);
  if (missing) throw missing;
  // CRIU writes its images (and dump.log) there; only root may read them (they hold the memory).
  if (makeDir !== undefined) await mkdir(makeDir, { recursive: true, mode: 0o700 });
  try {
    await run(op, helperOp, container, lxcpath, args);
    return;
  } catch (err) {
    const e = err as LxcError;
    if (e.code !== 'LXC_CHECKPOINT_FAILED') throw err;
    const problem = await criuCheckProblem();
    if (problem === undefined) throw err;
    const errors = problem.filter((l) => /error/i.test(l));
    throw new LxcError(`${e.message}: criu cannot work on this machine (\`criu check\` fails: ${(errors[0] ?? problem[0] ?? '').trim()})`, {
      code: 'LXC_CRIU_UNAVAILABLE',
      op,
      container,
      details: [...problem, ...e.details],
    });
  }
}

function flag(value: unknown, what: string): string {
  return expectBoolean(value, what, false) ? '1' : '0';
}

export function checkpoint(container: string, lxcpath: string | undefined, directory: unknown, options: unknown): Prepared {
  const dir = checkAbsolutePath(directory, 'checkpoint directory');
  const o = expectOptions<CheckpointOptions>(options, 'checkpoint options');
  const args = [dir, flag(o.stop, 'stop'), flag(o.verbose, 'verbose')];
  return () => criuCall('checkpoint', 'checkpoint', container, lxcpath, args, dir);
}

export function restore(container: string, lxcpath: string | undefined, directory: unknown, options: unknown): Prepared {
  const dir = checkAbsolutePath(directory, 'checkpoint directory');
  const o = expectOptions<RestoreOptions>(options, 'restore options');
  return () => criuCall('restore', 'restore', container, lxcpath, [dir, flag(o.verbose, 'verbose')]);
}

/** The migrate arguments as the helper takes them, in its order. */
export function migrateArgs(command: unknown, options: unknown): string[] {
  if (typeof command !== 'string' || !MIGRATE_COMMANDS.includes(command as MigrateCommand)) {
    throw new TypeError(`Expected one of ${MIGRATE_COMMANDS.join(', ')} for the migrate command but received ${describe(command)}`);
  }
  const o = expectOptions<MigrateOptions>(options, 'migrate options');
  const directory = checkAbsolutePath(o.directory, 'migrate directory');
  let predump = '';
  if (o.predumpDir !== undefined) {
    predump = expectString(o.predumpDir, 'predumpDir');
    // eslint-disable-next-line no-control-regex -- control characters are what is refused
    if (predump === '' || predump.startsWith('/') || predump.split('/').includes('..') || /[\u0000-\u001f\u007f]/.test(predump)) {
      throw new TypeError(`Expected a path relative to the directory, without "..", for predumpDir but received ${JSON.stringify(predump)}`);
    }
  }
  let address = '';
  let port = '';
  if (o.pageServer !== undefined) {
    const ps = expectOptions<{ address: string; port: number }>(o.pageServer, 'pageServer');
    address = expectString(ps.address, 'pageServer.address');
    if (!/^[A-Za-z0-9.:-]{1,253}$/.test(address) || address.startsWith('-')) {
      throw new TypeError(`Expected a host name or IP address for pageServer.address but received ${JSON.stringify(address)}`);
    }
    if (typeof ps.port !== 'number' || !Number.isInteger(ps.port) || ps.port < 1 || ps.port > 65535) {
      throw new TypeError(`Expected a port from 1 to 65535 for pageServer.port but received ${describe(ps.port)}`);
    }
    port = String(ps.port);
  }
  const action = o.actionScript === undefined ? '' : checkAbsolutePath(o.actionScript, 'actionScript');
  const ghost = o.ghostLimit ?? 0;
  if (typeof ghost !== 'number' || !Number.isSafeInteger(ghost) || ghost < 0) {
    throw new TypeError(`Expected a non-negative integer number of bytes for ghostLimit but received ${describe(ghost)}`);
  }
  if (o.featuresToCheck !== undefined && !Array.isArray(o.featuresToCheck)) {
    throw new TypeError(`Expected an array for featuresToCheck but received ${describe(o.featuresToCheck)}`);
  }
  let features = 0n;
  for (const f of o.featuresToCheck ?? []) {
    const bit = typeof f === 'string' && Object.hasOwn(CRIU_FEATURES, f) ? CRIU_FEATURES[f] : undefined;
    if (bit === undefined) throw new TypeError(`Expected mem-track or lazy-pages in featuresToCheck but received ${describe(f)}`);
    features |= bit;
  }
  return [
    command,
    directory,
    predump,
    address,
    port,
    action,
    flag(o.stop, 'stop'),
    flag(o.verbose, 'verbose'),
    flag(o.preservesInodes, 'preservesInodes'),
    flag(o.disableSkipInFlight, 'disableSkipInFlight'),
    String(ghost),
    String(features),
  ];
}

export function migrate(container: string, lxcpath: string | undefined, command: unknown, options: unknown): Prepared {
  const args = migrateArgs(command, options);
  return () => criuCall('migrate', 'migrate', container, lxcpath, args);
}
