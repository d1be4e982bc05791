/**
 * The exec fast path (`new Container(name, { exec: 'resident' })`): one small process per
 * running container, lxcts-resident (addon/resident_program.cc), forks each command instead
 * of liblxc attaching it.
 *
 * The resident itself is attached the normal way (through the lxcts-attach helper, from a
 * sealed copy of the host's file, as lxcts-files is), so it has what any attached process
 * gets: the container's namespaces, cgroup, capabilities, LSM label, seccomp filter,
 * personality and environment, and its commands inherit exactly that. What each command
 * gets of its own: uid, gid, extra environment, working directory and this process's pipes
 * (sent with SCM_RIGHTS). The resident answers with the command's pidfd (signals and the
 * end of the command go through it, across the pid namespace) and later its exit status.
 *
 * It is the container's process: whatever it says is untrusted. The addon checks each
 * answer's size and kind, that the pidfd is one and names a process of the resident's pid
 * namespace (addon/resident_client.cc); the exit status is checked here.
 *
 * It exits when this Container is released (or this process ends), dies with the
 * container, and is started again by the next exec. A request it cannot run the way
 * liblxc would (a terminal, a kept environment, attach options, too large) takes the
 * normal path.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';

import { LxcError } from './errors';
import { checkSpawnOptions } from './exec';
import { native, residentProgramPath } from './native';
import type { NativeAttached, NativeAttachOptions } from './native';
import type { ExitStatus, ProcessParts } from './process';
import { describe } from './validate';

/** How a Container starts commands: liblxc's attach each time, or through lxcts-resident. */
export type ExecMode = 'attach' | 'resident';

export function checkExecMode(value: unknown): ExecMode {
  if (value === undefined || value === 'attach' || value === 'resident') return value ?? 'attach';
  throw new TypeError(`Expected 'attach' or 'resident' for exec but received ${describe(value)}`);
}

/** The normal path: liblxc's attach through the lxcts-attach helper (or in-process). */
export type Attach = (argv: string[], options: NativeAttachOptions) => Promise<NativeAttached>;

/** What the resident writes first: the descriptor number of its end of the socketpair. */
const READY = /^lxcts-resident (\d{1,9})\n$/;
const READY_LIMIT = 64;

/** The resident's stderr kept for error messages (it only writes there when it fails). */
const STDERR_LIMIT = 4096;

/**
 * How long the resident may take to say it is ready, to answer a request, or to report a
 * command that has ended. It answers in milliseconds; one that does not (stopped with
 * SIGSTOP from inside the container, say) would otherwise hang the call for ever.
 */
export const RESIDENT_DEADLINE_MS = 5000;
/** How often a running command is looked at for having ended unreported (see watchUnreported()). */
const UNREPORTED_CHECK_MS = 1000;

interface Connection {
  fd: number;
  depth: number;
  /** False once the resident has exited or the connection was closed: fd is not ours any more. */
  open: boolean;
  close(): void;
  /**
   * SIGKILL through the resident's pidfd: its sockets close, its commands die with it
   * (PR_SET_PDEATHSIG). Closes the connection too, so the next exec starts another resident
   * at once rather than sending to the dying one before its exit has been seen.
   */
  kill(): void;
}

function stoppedAnswering(container: string, op: string): LxcError {
  return new LxcError(`the resident process of container "${container}" stopped answering (it was killed)`, {
    code: 'LXC_EXEC_FAILED',
    op,
    container,
  });
}

/** The resident takes a request only when it runs the command exactly as liblxc would. */
function residentCanRun(o: NativeAttachOptions): boolean {
  return (
    !o.tty &&
    o.clearEnv &&
    o.callerEnv.length === 0 &&
    o.program === undefined &&
    o.namespaces === -1 &&
    o.personality === -1 &&
    o.groups.length === 0 &&
    !o.remountSysProc &&
    !o.elevatedPrivileges
  );
}

/** The first line of the resident's stdout, read up to a bound. */
function readyLine(stdout: net.Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => done(new Error(`it did not say it was ready within ${RESIDENT_DEADLINE_MS / 1000} s`)), RESIDENT_DEADLINE_MS);
    const done = (err?: Error) => {
      clearTimeout(timer);
      stdout.off('data', onData);
      stdout.off('end', onEnd);
      stdout.off('error', done);
      if (err) reject(err);
      else resolve(text);
    };
    const onData = (chunk: Buffer) => {
      text += chunk.toString('latin1');
      if (text.includes('\n') || text.length > READY_LIMIT) done();
    };
    const onEnd = () => done();
    stdout.on('data', onData);
    stdout.on('end', onEnd);
    stdout.on('error', done);
  });
}

export class ResidentExec {
  readonly #container: string;
  #connection: Promise<Connection> | undefined;
  /** What the resident started, and through which connection: their exit status is checked (see guard()). */
  readonly #started = new WeakMap<NativeAttached, Connection>();

  constructor(container: string) {
    this.#container = container;
  }

  /** Starts `argv` through the resident (started first when none runs), or the normal way. */
  async attach(argv: string[], options: NativeAttachOptions, attach: Attach): Promise<NativeAttached> {
    if (!residentCanRun(options)) return attach(argv, options);
    // Ended before the request went out (the container was stopped, or restarted since):
    // nothing ran, so once more with a new resident, whose start fails as attach does.
    for (let attempt = 0; attempt < 2; attempt++) {
      const connection = await this.#connect(attach);
      const started = connection.open ? native().residentExec(connection.fd, connection.depth, this.#container, argv, options) : 'gone';
      if (started === null) return attach(argv, options);
      if (started === 'gone') {
        connection.close();
        continue;
      }
      const attached = await answered(started, connection, this.#container);
      this.#started.set(attached, connection);
      return attached;
    }
    throw new LxcError(`the resident process of container "${this.#container}" ended before it took the command`, {
      code: 'LXC_EXEC_FAILED',
      op: 'exec',
      container: this.#container,
    });
  }

  /** The command's parts, with its exit status checked when the resident reported it. */
  guard(attached: NativeAttached, parts: ProcessParts, op: string): ProcessParts {
    const connection = this.#started.get(attached);
    if (connection === undefined) return parts;
    const exited = watchUnreported(checkedExit(parts.exited, attached.pid, op, this.#container), attached.pid, connection, op, this.#container);
    // A command a deadline's SIGKILL did not end in time: the resident is not reporting it.
    return { ...parts, exited, abandon: () => connection.kill() };
  }

  /** Closes the connection: the resident exits once its running commands have ended. */
  async close(): Promise<void> {
    const connecting = this.#connection;
    this.#connection = undefined;
    (await connecting?.catch(() => undefined))?.close();
  }

  #connect(attach: Attach): Promise<Connection> {
    const current = this.#connection;
    if (current !== undefined) {
      return current.then(
        (c) => (c.open ? c : this.#respawn(current, attach)),
        () => this.#respawn(current, attach),
      );
    }
    return this.#respawn(current, attach);
  }

  /** A new resident, unless another call started one since `stale` was seen. */
  #respawn(stale: Promise<Connection> | undefined, attach: Attach): Promise<Connection> {
    if (this.#connection !== stale && this.#connection !== undefined) return this.#connect(attach);
    const connecting = start(attach);
    this.#connection = connecting;
    // A failed start is not kept: the next exec tries again (and fails as attach does).
    connecting.catch(() => {
      if (this.#connection === connecting) this.#connection = undefined;
    });
    return connecting;
  }
}

/** Attaches lxcts-resident and takes its end of the connection. */
async function start(attach: Attach): Promise<Connection> {
  const binding = native();
  const options: NativeAttachOptions = { ...checkSpawnOptions({}, false).native, program: residentProgramPath() };
  const attached = await attach(['lxcts-resident'], options);
  const stdout = new net.Socket({ fd: attached.stdout, readable: true, writable: false });
  const stderr = new net.Socket({ fd: attached.stderr, readable: true, writable: false });
  let complaint = '';
  stderr.on('data', (chunk: Buffer) => {
    if (complaint.length < STDERR_LIMIT) complaint += chunk.toString();
  });
  stderr.on('error', () => undefined);
  let connected: { fd: number; depth: number } | undefined;
  let failure: unknown;
  try {
    const match = READY.exec(await readyLine(stdout));
    if (match === null) throw new Error('it did not say where its socket is');
    // Before NativeProcess owns the pidfd (and closes it when the resident exits).
    connected = binding.residentConnect(attached.pidfd, Number(match[1]), attached.pid);
  } catch (err) {
    failure = err;
  }
  stdout.destroy();
  const proc = new binding.NativeProcess(attached.pid, attached.pidfd, attached.statusFd);
  if (connected === undefined) {
    proc.kill(9);
    await proc.wait().catch(() => undefined);
    stderr.destroy();
    const why = complaint.trim().slice(0, 200) || (failure instanceof Error ? failure.message : String(failure));
    throw new LxcError(`cannot start the resident exec process: ${why.replace(/[^\x20-\x7e]/g, '?')}`, { code: 'LXC_EXEC_FAILED', op: 'exec' });
  }
  const { fd, depth } = connected;
  const connection: Connection = {
    fd,
    depth,
    open: true,
    close() {
      if (!connection.open) return;
      connection.open = false;
      fs.closeSync(fd);
    },
    kill() {
      proc.kill(9);
      // The fd is only used right after checking `open`, in the same turn (attach()).
      connection.close();
    },
  };
  // Dead with the container (or killed): the next exec starts another.
  void proc
    .wait()
    .catch(() => undefined)
    .finally(() => {
      connection.close();
      stderr.destroy();
    });
  return connection;
}

/**
 * The resident's answer to a request, within RESIDENT_DEADLINE_MS: past that the resident
 * is killed (which ends the wait for its answer) and the call fails. Not retried on the
 * normal path: what the resident did with the request before it stalled is unknown.
 */
async function answered(started: Promise<NativeAttached>, connection: Connection, container: string): Promise<NativeAttached> {
  let stalled = false;
  const timer = setTimeout(() => {
    stalled = true;
    connection.kill();
  }, RESIDENT_DEADLINE_MS);
  try {
    return await started;
  } catch (err) {
    if (stalled) throw stoppedAnswering(container, 'exec');
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

/** True when `pid` has ended and nobody has reaped it yet (a zombie), from /proc/<pid>/stat. */
function isZombie(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return false;
  }
}

/**
 * The resident reaps each command and reports its status at once. A command that stays
 * ended and unreaped for RESIDENT_DEADLINE_MS means the resident stopped answering (stopped
 * with SIGSTOP from inside the container, say): it is killed and the wait fails, instead of
 * waiting for a report that never comes.
 */
function watchUnreported(exited: Promise<ExitStatus>, pid: number, connection: Connection, op: string, container: string): Promise<ExitStatus> {
  let since: number | undefined;
  let stalled = false;
  const timer = setInterval(() => {
    if (!isZombie(pid)) {
      since = undefined;
      return;
    }
    since ??= Date.now();
    if (Date.now() - since < RESIDENT_DEADLINE_MS) return;
    stalled = true;
    clearInterval(timer);
    connection.kill();
  }, UNREPORTED_CHECK_MS);
  timer.unref();
  return exited.then(
    (status) => {
      clearInterval(timer);
      return status;
    },
    (err: unknown) => {
      clearInterval(timer);
      throw stalled ? stoppedAnswering(container, op) : err;
    },
  );
}

/**
 * A status the resident reported, checked: an exit code of 0-255 or a known signal, never
 * both or neither. A resident that ended first (killed, say) fails the wait with that said.
 */
export function checkedExit(exited: Promise<ExitStatus>, pid: number, op: string, container: string): Promise<ExitStatus> {
  const fail = (message: string) => new LxcError(message, { code: 'LXC_EXEC_FAILED', op, container });
  return exited.then(
    (status) => {
      const { exitCode, signal } = status;
      const exitedWell = exitCode !== null && Number.isInteger(exitCode) && exitCode >= 0 && exitCode <= 255 && signal === null;
      if (!exitedWell && !(exitCode === null && signal !== null)) {
        throw fail(`the resident process of container "${container}" reported an impossible exit status for command ${pid}`);
      }
      return status;
    },
    (err: unknown) => {
      if (!(err instanceof LxcError) || err.code !== 'LXC_EXEC_FAILED') throw err;
      throw fail(`the resident process of container "${container}" ended before it reported how command ${pid} exited (the command was killed with it)`);
    },
  );
}
