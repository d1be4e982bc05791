/**
 * The child processes of `ci up`: each started in turn and waited for until it answers,
 * every line of its output shown with its name in front, stopped in the reverse order
 * (SIGTERM, a bounded grace, then SIGKILL). A child that ends on its own while the others
 * run aborts `crashed`, so that the caller stops the rest rather than keep half a system.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import * as readline from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';

export interface ComponentSpec {
  /** The prefix of its lines and its name in messages: `nsqd`, `worker binaries`. */
  name: string;
  command: string;
  args: string[];
  /** Whether it is ready; called until true (a throw counts as not yet). */
  ready: (signal: AbortSignal) => Promise<boolean>;
  /** How long it may take to become ready. */
  startTimeoutMs: number;
  /** How long it gets to exit after SIGTERM before SIGKILL. */
  stopTimeoutMs: number;
}

/** A component that could not start, or ended on its own: its name, why, and the last lines it printed. */
export class ComponentError extends Error {
  readonly code = 'COMPONENT_FAILED';
  /** The first line of the message: who and what happened, without the lines. */
  readonly summary: string;
  constructor(
    readonly component: string,
    why: string,
    readonly lastLines: string[],
  ) {
    super(`${component} ${why}${lastLines.length ? `; its last lines:\n${lastLines.map((l) => `  ${l}`).join('\n')}` : ' (it printed nothing)'}`);
    this.summary = `${component} ${why}`;
  }
}

/** The start was interrupted (Ctrl-C while starting). */
export class Interrupted extends Error {
  readonly code = 'INTERRUPTED';
  constructor() {
    super('interrupted while starting');
  }
}

interface Running {
  spec: ComponentSpec;
  child: ChildProcess;
  /** Resolves with how it ended. */
  exited: Promise<string>;
  lastLines: string[];
}

/** Lines kept per child for a failure message. */
const KEPT_LINES = 20;
const POLL_MS = 100;

/** `code 1` or `signal SIGKILL`: how a child ended, for messages. */
function describeExit(code: number | null, signal: NodeJS.Signals | null): string {
  return signal ? `signal ${signal}` : `code ${code}`;
}

/** Whether `promise` settles within `ms` (the timer is cleared either way, so it never holds the process open). */
async function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  const timer = new AbortController();
  try {
    return await Promise.race([promise.then(() => true), sleep(ms, false, { signal: timer.signal })]);
  } finally {
    timer.abort();
  }
}

export class Supervisor {
  readonly #running: Running[] = [];
  readonly #crashed = new AbortController();
  #stopping = false;

  /**
   * `write` takes each line already prefixed (`nsqd | ...`, names padded to `width`), after
   * `format` (e.g. readableLogLine) made it what the reader sees.
   */
  constructor(
    private readonly write: (line: string) => void,
    private readonly width: number,
    private readonly format: (line: string) => string = (line) => line,
  ) {}

  /** Aborts, with an Error saying who and how, when a started child ends before stop(). */
  get crashed(): AbortSignal {
    return this.#crashed.signal;
  }

  /** Prints a line of the supervisor's own under `name`. */
  say(name: string, line: string): void {
    this.write(`${name.padEnd(this.width)} | ${line}`);
  }

  /** Starts `spec` and resolves with its pid once it is ready; throws ComponentError otherwise (the child is killed then). */
  async start(spec: ComponentSpec, interrupt?: AbortSignal): Promise<number> {
    if (interrupt?.aborted) throw new Interrupted();
    // Its own process group: Ctrl-C at the terminal reaches `ci up` alone, which then stops
    // the children in order (workers before the nsqd they report to).
    const child = spawn(spec.command, spec.args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    try {
      await once(child, 'spawn');
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      throw new ComponentError(
        spec.name,
        e.code === 'ENOENT' ? `could not start: ${spec.command} is not on the PATH (scripts/setup-host.sh installs it)` : `could not start: ${e.message}`,
        [],
      );
    }
    const lastLines: string[] = [];
    for (const stream of [child.stdout, child.stderr]) {
      readline.createInterface({ input: stream as NodeJS.ReadableStream, crlfDelay: Infinity }).on('line', (line) => {
        lastLines.push(line);
        if (lastLines.length > KEPT_LINES) lastLines.shift();
        this.say(spec.name, this.format(line));
      });
    }
    const exited = once(child, 'exit').then(
      ([code, signal]) => describeExit(code as number | null, signal as NodeJS.Signals | null),
      (err: Error) => `error: ${err.message}`,
    );
    const running: Running = { spec, child, exited, lastLines };
    this.#running.push(running);
    let ended: string | null = null;
    void exited.then(async (how) => {
      ended = how;
      if (this.#stopping) return;
      const lines = await this.#drained(running);
      if (!this.#stopping) this.#crashed.abort(new ComponentError(spec.name, `exited unexpectedly (${how})`, lines));
    });
    const deadline = AbortSignal.timeout(spec.startTimeoutMs);
    for (;;) {
      const ready = await spec.ready(AbortSignal.any([deadline, this.#crashed.signal])).catch(() => false);
      if (ended !== null) throw new ComponentError(spec.name, `exited during start-up (${ended})`, await this.#drained(running));
      if (this.#crashed.signal.aborted) throw this.#crashed.signal.reason as Error;
      if (ready) return child.pid as number;
      if (interrupt?.aborted) throw new Interrupted();
      if (deadline.aborted) {
        await this.#stopOne(running);
        throw new ComponentError(spec.name, `was not ready after ${spec.startTimeoutMs / 1000} s`, lastLines);
      }
      await Promise.race([sleep(POLL_MS, undefined, { signal: interrupt }).catch(() => undefined), exited]);
    }
  }

  /** Stops every child, the last started first; each gets its stop timeout, then SIGKILL. */
  async stop(): Promise<void> {
    this.#stopping = true;
    for (const running of [...this.#running].reverse()) await this.#stopOne(running);
  }

  /** SIGKILLs every child still running (a second Ctrl-C); a pending stop() then ends at once. */
  kill(): void {
    this.#stopping = true;
    for (const { child } of this.#running) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }

  async #stopOne(running: Running): Promise<void> {
    const { child, spec, exited } = running;
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      if (!(await within(exited, spec.stopTimeoutMs)) && child.exitCode === null && child.signalCode === null) {
        this.say(spec.name, `still running ${spec.stopTimeoutMs / 1000} s after SIGTERM: SIGKILL`);
        child.kill('SIGKILL');
      }
    }
    this.say(spec.name, `exited (${await exited})`);
  }

  /** The last lines of a child that exited, once its output was read to the end (bounded: a grandchild may hold the pipe). */
  async #drained(running: Running): Promise<string[]> {
    await within(once(running.child, 'close'), 1000);
    return running.lastLines;
  }
}
