/**
 * The two directions of a pseudo-terminal master, for exec's `tty` and the console.
 *
 * Neither may block the event loop, and the output must reach its end. Node's own streams
 * do neither for a master: tty.WriteStream writes blocking (libuv cannot reopen a master,
 * so it asks for blocking writes, for the open file both directions share), and the
 * tty.ReadStream of Node 20 (libuv 1.46) ends early: a partial read after POLLHUP is taken
 * for end-of-file while the terminal still holds the command's last output (libuv issues
 * 4992 and 2319, fixed upstream in 2026). So both directions read and write the
 * non-blocking master themselves (fs.readSync / fs.writeSync never wait) and, on EAGAIN,
 * wait for the descriptor to be ready through a libuv poll handle (NativeFd): no busy
 * loop, no pool thread. The end of the output is what the kernel says, EIO once the other
 * side is closed and its last output read. Each stream owns its descriptor and closes it
 * when it is destroyed, at once: a container's pty slot is free again when the call ends.
 */
import * as fs from 'node:fs';
import { Readable, Writable } from 'node:stream';

import type { NativeBinding, NativeFd } from './native';

/** One read's room; the data is copied out of it before the next. */
const scratch = Buffer.allocUnsafe(64 * 1024);

function uvError(status: number): Error {
  return new Error(`waiting for the terminal failed (libuv error ${status})`);
}

/** What the terminal prints; ends when the other side is closed and all it printed is read. */
export class TerminalOutput extends Readable {
  readonly #master: NativeFd;
  #waiting = false;

  constructor(fd: number, binding: NativeBinding) {
    super();
    this.#master = new binding.NativeFd(fd, (status) => {
      this.#waiting = false;
      if (status < 0) this.destroy(uvError(status));
      else this.#pump();
    });
  }

  /** The master's descriptor (for a resize); -1 once the stream is destroyed. */
  get fd(): number {
    return this.#master.fd;
  }

  override _read(): void {
    this.#pump();
  }

  /** Reads until the terminal is empty (then waits for it) or the consumer has enough. */
  #pump(): void {
    if (this.#waiting || this.destroyed) return;
    for (;;) {
      let n: number;
      try {
        n = fs.readSync(this.#master.fd, scratch, 0, scratch.length, null);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EINTR') continue;
        if (code === 'EAGAIN') {
          this.#waiting = true;
          this.#master.watch(true, false);
        } else if (code === 'EIO') {
          this.push(null); // the other side is closed and nothing is left: the end
        } else {
          this.destroy(err as Error);
        }
        return;
      }
      if (n === 0) {
        this.push(null);
        return;
      }
      if (!this.push(Buffer.from(scratch.subarray(0, n)))) return;
    }
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    // Whoever destroys the output lets go of the terminal too: a master nobody reads would
    // hold the container's pty (and its lxc.pty.max slot) for good.
    this.#master.close();
    callback(error);
  }
}

/** What is typed at the terminal: a write waits (without blocking) while the terminal is full. */
export class TerminalInput extends Writable {
  readonly #master: NativeFd;
  #pending: { chunk: Buffer; offset: number; callback: (error?: Error | null) => void } | undefined;

  constructor(fd: number, binding: NativeBinding) {
    super({ decodeStrings: true });
    this.#master = new binding.NativeFd(fd, (status) => {
      if (status < 0) this.#finish(uvError(status));
      else this.#flush();
    });
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#pending = { chunk, offset: 0, callback };
    this.#flush();
  }

  #flush(): void {
    const pending = this.#pending;
    if (!pending) return;
    while (pending.offset < pending.chunk.length) {
      try {
        pending.offset += fs.writeSync(this.#master.fd, pending.chunk, pending.offset, pending.chunk.length - pending.offset);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EINTR') continue;
        if (code === 'EAGAIN')
          this.#master.watch(false, true); // the terminal's input queue is full
        else this.#finish(err as Error);
        return;
      }
    }
    this.#finish();
  }

  #finish(error?: Error): void {
    const pending = this.#pending;
    this.#pending = undefined;
    pending?.callback(error);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#master.close();
    if (this.#pending) this.#finish(new Error('the terminal was closed before this input was written'));
    callback(error);
  }
}
