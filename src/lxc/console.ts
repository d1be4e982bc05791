/**
 * A container's console or one of its ttys, attached on a pseudo-terminal (liblxc's
 * console_getfd), and the console log (console_log).
 *
 * The container's monitor hands over the master of the terminal and keeps the tty ours
 * while its command socket stays open: detach() closes both, and the tty is free for the
 * next attach. The container keeps running.
 *
 * Neither direction blocks the event loop, and the output is read to its real end: both
 * read and write the non-blocking master themselves and wait for it to be ready through a
 * libuv poll handle (terminal-streams.ts).
 */
import * as net from 'node:net';
import { Readable, Writable } from 'node:stream';

import type { NativeBinding, NativeConsole } from './native';
import { TerminalInput, TerminalOutput } from './terminal-streams';
import { expectOptions } from './validate';

export interface ConsoleOptions {
  /**
   * Which terminal: -1 (the default, as lxc-console) the first free tty of `lxc.tty.max`,
   * 0 the console itself (`/dev/console` inside, where init writes), N tty N.
   */
  tty?: number;
  /** Window size set on attaching; both or neither. Default: left as it is. */
  cols?: number;
  rows?: number;
}

export interface ConsoleLogOptions {
  /** Empty the console's ring buffer after reading it. Default: false. */
  clear?: boolean;
}

/** Checks console() options; returns the native arguments. */
export function checkConsoleOptions(value: unknown): { tty: number; cols: number; rows: number } {
  const o = expectOptions<ConsoleOptions>(value, 'console options');
  const ttyNumber = o.tty ?? -1;
  if (typeof ttyNumber !== 'number' || !Number.isInteger(ttyNumber) || ttyNumber < -1 || ttyNumber > 1024) {
    throw new TypeError(`Expected an integer from -1 to 1024 for tty but received ${JSON.stringify(ttyNumber)}`);
  }
  if ((o.cols === undefined) !== (o.rows === undefined)) throw new TypeError('Expected both cols and rows, or neither');
  const cols = o.cols === undefined ? 0 : checkWindowSide(o.cols, 'cols');
  const rows = o.rows === undefined ? 0 : checkWindowSide(o.rows, 'rows');
  return { tty: ttyNumber, cols, rows };
}

export function checkWindowSide(value: unknown, what: 'cols' | 'rows'): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 65535) {
    throw new TypeError(`Expected an integer from 1 to 65535 for ${what} but received ${JSON.stringify(value)}`);
  }
  return value;
}

function closedEvent(stream: { once(event: 'close', listener: () => void): unknown; closed?: boolean; destroyed?: boolean }): Promise<void> {
  return new Promise((resolve) => {
    if (stream.closed) resolve();
    else stream.once('close', () => resolve());
  });
}

/**
 * A container's console or tty, attached. Read `output`, write `input`; `detach()` lets go
 * of it without touching the container. Made by `Container.console()`. While attached it
 * keeps the process alive, as an open socket does.
 */
export class ContainerConsole {
  /** The tty attached: 0 for the console, N for tty N. */
  readonly tty: number;
  /** What the terminal prints. Ends when the console is detached or the container stops. */
  readonly output: Readable;
  /** What is typed at the terminal. Writing never blocks this process (see the module comment). */
  readonly input: Writable;
  /** Resolves once everything the console held is closed (after detach(), or the container stopped). */
  readonly closed: Promise<void>;

  readonly #fds: NativeConsole;
  readonly #binding: NativeBinding;
  readonly #output: TerminalOutput;
  readonly #socket: net.Socket;

  /** @internal Made by Container.console(). */
  constructor(fds: NativeConsole, binding: NativeBinding) {
    this.tty = fds.tty;
    this.#fds = fds;
    this.#binding = binding;
    this.#output = new TerminalOutput(fds.read, binding);
    this.output = this.#output;
    this.input = new TerminalInput(fds.write, binding);
    // Input that can no longer be delivered (the container stopped) fails its write()
    // callbacks; it must not crash the process.
    this.input.on('error', () => undefined);
    // The monitor says nothing more on its command socket; it closes it when the
    // container stops. Read it so that its end is seen.
    this.#socket = new net.Socket({ fd: fds.socket, readable: true, writable: false });
    this.#socket.on('error', () => undefined);
    this.#socket.resume();
    this.#socket.once('close', () => void this.detach());
    this.closed = Promise.all([closedEvent(this.#output), closedEvent(this.input), closedEvent(this.#socket)]).then(() => undefined);
  }

  /**
   * Sets the terminal's window size (what `stty size` shows inside; a program there gets
   * SIGWINCH). False once the console is detached.
   */
  resize(cols: number, rows: number): boolean {
    const c = checkWindowSide(cols, 'cols');
    const r = checkWindowSide(rows, 'rows');
    if (this.#output.fd < 0) return false;
    return this.#binding.consoleResize(this.#output.fd, c, r, this.#fds.monitorPid, this.#fds.monitorStart);
  }

  /** Lets go of the terminal: the container keeps running and the tty is free again. */
  detach(): Promise<void> {
    this.#output.destroy();
    this.input.destroy();
    this.#socket.destroy();
    return this.closed;
  }
}
