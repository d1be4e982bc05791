/**
 * State changes of containers as they happen, from liblxc's monitor: the stream that
 * `lxc-monitor` reads, with no polling.
 *
 * Each container's monitor process writes one fixed-size record (`struct lxc_msg`) per
 * state change to a FIFO per lxcpath; `lxc-monitord` reads that FIFO and copies each
 * record to every client of its abstract unix socket for the lxcpath. liblxc 5.0 exports
 * none of its monitor functions, so the addon connects to that socket itself
 * (addon/monitor_socket.cc), starting lxc-monitord first when none serves the lxcpath, as
 * lxc-monitor does. Reading the FIFO directly would take records away from lxc-monitor and
 * every other watcher; liblxc's other channel, the per-container state clients of
 * `wait()`, exists only while the container runs and never reports STARTING.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import { addAbortSignal } from 'node:stream';

import { AbortError, LxcError } from './errors';
import { native } from './native';
import { checkLxcpath, checkName, expectOptions } from './validate';

/** The states liblxc reports, in liblxc's numbering (lxc_state_t). */
const WIRE_STATES = ['STOPPED', 'STARTING', 'RUNNING', 'STOPPING', 'ABORTING', 'FREEZING', 'FROZEN', 'THAWED'] as const;

export type WatchedState = (typeof WIRE_STATES)[number];

/**
 * One state change as liblxc's monitor reported it. liblxc may report a state twice (a
 * freeze gives FREEZING, FROZEN, FROZEN; an unfreeze THAWED, THAWED, RUNNING).
 */
export interface ContainerEvent {
  /** The container's name, checked as a container name (records with other names are dropped). */
  container: string;
  /** The lxcpath watched. */
  lxcpath: string;
  state: WatchedState;
}

export interface WatchOptions {
  /** The lxcpath whose containers are watched. Default: liblxc's default lxcpath. */
  lxcpath?: string;
  /** Only these containers. Default: every container in the lxcpath. */
  containers?: string[];
  /** Aborting ends the iteration (it rejects with an AbortError) and closes the socket. */
  signal?: AbortSignal;
}

/**
 * struct lxc_msg { lxc_msg_type_t type; char name[NAME_MAX + 1]; int value; }: 4 + 256 + 4
 * bytes in the host's byte order. Type 0 is a state change; the others (priority, exit
 * code) are skipped.
 */
export const LXC_MSG_SIZE = 264;
const NAME_BYTES = 256;
const MSG_STATE = 0;
const readInt32 = os.endianness() === 'LE' ? 'readInt32LE' : 'readInt32BE';

/**
 * One record from the wire, or null when it is not a state change of a container with a
 * valid name: whatever wrote to the FIFO (any process allowed to) is not trusted.
 */
export function parseMonitorRecord(record: Buffer, lxcpath: string): ContainerEvent | null {
  if (record.length !== LXC_MSG_SIZE) return null;
  const type = record[readInt32](0);
  if (type !== MSG_STATE) return null;
  const nameField = record.subarray(4, 4 + NAME_BYTES);
  const end = nameField.indexOf(0);
  if (end < 0) return null; // liblxc's strncpy leaves a 256-byte name unterminated; no container has one
  const state = WIRE_STATES[record[readInt32](4 + NAME_BYTES)];
  if (state === undefined) return null;
  let container: string;
  try {
    container = checkName(nameField.subarray(0, end).toString('utf8'), 'container', 'watch');
  } catch {
    return null;
  }
  return { container, lxcpath, state };
}

/** Splits a byte stream into records; keeps the remainder between chunks. */
export class RecordSplitter {
  #pending: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Buffer[] {
    this.#pending = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
    const records: Buffer[] = [];
    while (this.#pending.length >= LXC_MSG_SIZE) {
      records.push(this.#pending.subarray(0, LXC_MSG_SIZE));
      this.#pending = this.#pending.subarray(LXC_MSG_SIZE);
    }
    return records;
  }
}

/** Where distributions put lxc-monitord (liblxc's LXC_MONITORD_PATH is fixed at its build). */
const MONITORD_CANDIDATES = [
  '/usr/libexec/lxc/lxc-monitord',
  '/usr/lib/x86_64-linux-gnu/lxc/lxc-monitord',
  '/usr/lib/aarch64-linux-gnu/lxc/lxc-monitord',
  '/usr/lib/lxc/lxc-monitord',
  '/usr/local/libexec/lxc/lxc-monitord',
  '/usr/local/lib/lxc/lxc-monitord',
];

function monitordPath(): string {
  const found = MONITORD_CANDIDATES.find((candidate) => fs.existsSync(candidate));
  if (!found) {
    throw new LxcError(`cannot watch containers: lxc-monitord is not installed (looked in ${MONITORD_CANDIDATES.join(', ')})`, {
      code: 'LXC_MONITOR_FAILED',
      op: 'watch',
    });
  }
  return found;
}

/**
 * Starts lxc-monitord for the lxcpath and waits until its socket is ready: it writes one
 * byte on the descriptor named in its arguments (then closes it), as liblxc's
 * lxc_monitord_spawn waits for. It runs in a session of its own and outlives this process
 * as liblxc leaves it: it serves every watcher of the lxcpath and quits once it has had no
 * client for a while. Two watchers may start one each: the second cannot bind and exits.
 */
async function startMonitord(lxcpath: string): Promise<void> {
  const child = spawn(monitordPath(), [lxcpath, '3'], { detached: true, stdio: ['ignore', 'ignore', 'ignore', 'pipe'] });
  const sync = child.stdio[3] as net.Socket;
  const timeout = AbortSignal.timeout(10_000);
  try {
    await Promise.race([
      once(sync, 'data', { signal: timeout }),
      once(sync, 'close', { signal: timeout }),
      once(child, 'exit', { signal: timeout }),
      once(child, 'error', { signal: timeout }).then(([err]) => Promise.reject(err as Error)),
    ]);
  } catch (err) {
    throw new LxcError(`cannot start lxc-monitord for ${lxcpath}: ${(err as Error).message}`, { code: 'LXC_MONITOR_FAILED', op: 'watch' });
  } finally {
    sync.destroy();
    child.unref();
  }
}

async function connect(lxcpath: string): Promise<number> {
  const binding = native();
  const fd = await binding.monitorConnect(lxcpath);
  if (fd !== null) return fd;
  await startMonitord(lxcpath);
  const again = await binding.monitorConnect(lxcpath);
  if (again === null) throw new LxcError(`lxc-monitord for ${lxcpath} did not open its socket`, { code: 'LXC_MONITOR_FAILED', op: 'watch' });
  return again;
}

/** Sockets of iterators nobody holds any more: closed when the garbage collector finds them. */
const forgotten = new FinalizationRegistry<net.Socket>((socket) => socket.destroy());

/**
 * The events of one watch. An async iterator: `for await (const e of events)`; leaving the
 * loop (break, return, throw) or calling `close()` closes the socket. While nobody waits
 * for the next event the socket does not keep the process alive.
 */
export class ContainerEvents implements AsyncIterableIterator<ContainerEvent> {
  /** The lxcpath watched. */
  readonly lxcpath: string;
  readonly #socket: net.Socket;
  readonly #events: AsyncGenerator<ContainerEvent, undefined>;

  /** @internal Made by watch(). */
  constructor(socket: net.Socket, lxcpath: string, containers: Set<string> | null) {
    this.lxcpath = lxcpath;
    this.#socket = socket;
    this.#events = read(socket, lxcpath, containers);
    socket.unref();
    forgotten.register(this, socket, this);
  }

  async next(): Promise<IteratorResult<ContainerEvent>> {
    this.#socket.ref();
    try {
      return await this.#events.next();
    } finally {
      this.#socket.unref();
    }
  }

  async return(): Promise<IteratorResult<ContainerEvent>> {
    this.close();
    return this.#events.return(undefined);
  }

  async throw(err?: unknown): Promise<IteratorResult<ContainerEvent>> {
    this.close();
    return this.#events.throw(err);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  /** Stops watching: the socket is closed and the iteration ends. */
  close(): void {
    forgotten.unregister(this);
    this.#socket.destroy();
  }
}

async function* read(socket: net.Socket, lxcpath: string, containers: Set<string> | null): AsyncGenerator<ContainerEvent, undefined> {
  const splitter = new RecordSplitter();
  try {
    for await (const chunk of socket as AsyncIterable<Buffer>) {
      for (const record of splitter.push(chunk)) {
        const event = parseMonitorRecord(record, lxcpath);
        if (event && (containers === null || containers.has(event.container))) yield event;
      }
    }
  } catch (err) {
    // close() ends the iteration quietly; an abort rejects as documented.
    if ((err as NodeJS.ErrnoException).code === 'ERR_STREAM_PREMATURE_CLOSE') return undefined;
    throw err;
  }
  return undefined;
}

/**
 * Watches the containers of an lxcpath (or only `containers`) change state: STARTING,
 * RUNNING, STOPPING, STOPPED, FREEZING, FROZEN, THAWED, ABORTING. Resolves once the watch
 * is connected: every change after that is seen, in order.
 */
export async function watch(options: WatchOptions = {}): Promise<ContainerEvents> {
  const o = expectOptions<WatchOptions>(options, 'watch options');
  const lxcpath = checkLxcpath(o.lxcpath) ?? (await native().defaultLxcpath());
  const containers = o.containers === undefined ? null : new Set(checkContainers(o.containers));
  const signal = o.signal;
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw new TypeError('Expected an AbortSignal for signal');
  if (signal?.aborted) throw new AbortError(undefined, { cause: signal.reason });
  const fd = await connect(lxcpath);
  const socket = new net.Socket({ fd, readable: true, writable: false });
  if (signal?.aborted) {
    socket.destroy();
    throw new AbortError(undefined, { cause: signal.reason });
  }
  if (signal) addAbortSignal(signal, socket);
  return new ContainerEvents(socket, lxcpath, containers);
}

function checkContainers(value: unknown): string[] {
  if (!Array.isArray(value)) throw new TypeError('Expected an array of container names for containers');
  return value.map((name) => checkName(name, 'container', 'watch'));
}
