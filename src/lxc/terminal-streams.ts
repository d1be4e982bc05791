/**
 * The two directions of a pseudo-terminal master: output for exec's `tty` and the console,
 * input for the console (exec's `tty` still writes through Node's tty stream: see process.ts).
 *
 * Neither may block the event loop. Reads go through libuv (tty.ReadStream), which makes
 * the master non-blocking. Writes do not: libuv writes to a master it cannot reopen in
 * blocking mode, and Node's tty.WriteStream asks for blocking writes (for the whole open
 * file, both directions), so a command or container that stops reading its terminal would
 * freeze this process. As node-pty does, input is written with fs.write; when the
 * terminal's input queue is full (EAGAIN) the write is tried again after a short, growing
 * pause.
 */
import * as fs from 'node:fs';
import { PassThrough, Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import * as tty from 'node:tty';
import { promisify } from 'node:util';

const write = promisify(fs.write);
const close = promisify(fs.close);
/** Pauses between writes that found the terminal's input queue full: 1 ms, doubling up to 50 ms. */
const FULL_PAUSE_MS = { first: 1, max: 50 };

/** The terminal's input: writes that wait (without blocking) while the terminal is full. */
export class TerminalInput extends Writable {
  readonly #fd: number;
  #writing: Promise<void> = Promise.resolve();

  constructor(fd: number) {
    super({ decodeStrings: true });
    this.#fd = fd;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#writing = this.#writeAll(chunk);
    this.#writing.then(() => callback(), callback);
  }

  async #writeAll(chunk: Buffer): Promise<void> {
    let offset = 0;
    let pause = FULL_PAUSE_MS.first;
    while (offset < chunk.length) {
      if (this.destroyed) throw new Error('the console was detached');
      try {
        offset += (await write(this.#fd, chunk, offset, chunk.length - offset)).bytesWritten;
        pause = FULL_PAUSE_MS.first;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
        await sleep(pause);
        pause = Math.min(pause * 2, FULL_PAUSE_MS.max);
      }
    }
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    // The descriptor is closed only once no write uses it: its number could be reused.
    this.#writing
      .catch(() => undefined)
      .then(() => close(this.#fd))
      .then(
        () => callback(error),
        (err: Error) => callback(error ?? err),
      );
  }
}

/**
 * Reading a terminal master fails with EIO once the other side is closed (the container
 * stopped): that is its end, so the stream ends normally.
 */
export function terminalOutput(fd: number): { output: PassThrough; master: tty.ReadStream } {
  const master = new tty.ReadStream(fd);
  const output = new PassThrough();
  master.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EIO') output.destroy(err);
  });
  master.on('close', () => output.end());
  // Whoever destroys the output lets go of the terminal too: a paused master nobody reads
  // would hold the container's pty (and its lxc.pty.max slot) for good.
  output.once('close', () => master.destroy());
  master.pipe(output, { end: false });
  return { output, master };
}
