/**
 * spawn()'s stdout and stderr: a pipe the addon reads (addon/output_stream.h), handed over
 * in chunks of up to 64 KiB instead of one chunk per wake-up.
 *
 * A pipe wakes its reader on every write, and many programs write 4 KiB at a time: a
 * net.Socket ran its JavaScript path (a Buffer, push(), the consumer) for each, about 250
 * times per MB. The addon reads in C++ and calls here once per 64 KiB, at end-of-file, or
 * when output has waited 1-2 ms without filling a chunk; bulk output it reads once per
 * millisecond rather than on every write (addon/output_stream.h).
 *
 * A command's stdout and stderr are one pair in the addon: before either hands over a chunk
 * that filled (or its end), the other hands over what it holds, so a consumer merging both
 * sees a stderr line where it was written, not after the stdout read while it waited.
 */
import { Readable } from 'node:stream';

import type { NativeBinding, NativeOutputStream } from './native';

/**
 * Above the addon's 64 KiB chunk: at Readable's default 16 KiB every chunk would make push()
 * return false, so a consumer reading with `for await` or 'readable' would pause and resume the
 * addon once per chunk, and bulk output would never be read per tick (addon/output_stream.h).
 */
export const PIPE_OUTPUT_HIGH_WATER_MARK = 256 * 1024;

/** What the command writes to one of its pipes; ends at end-of-file. */
export class PipeOutput extends Readable {
  readonly #reader: NativeOutputStream;

  /** With `sibling` (the same command's other output), the two keep their chunks in the order read. */
  constructor(fd: number, binding: NativeBinding, sibling?: PipeOutput) {
    super({ highWaterMark: PIPE_OUTPUT_HIGH_WATER_MARK });
    const onData = (chunk: Buffer | null, error?: string, code?: string) => {
      // The errno name as a net.Socket's read error has it ('EIO').
      if (error !== undefined) this.destroy(Object.assign(new Error(error), { code }));
      else if (chunk === null) this.push(null);
      // Back-pressure: the command blocks once the pipe is full, until _read() asks for more.
      else if (!this.push(chunk)) this.#reader.pause();
    };
    this.#reader = new binding.OutputStream(fd, onData, sibling === undefined ? undefined : sibling.#reader);
    // Read at once, as a net.Socket does: a short output reaches its end (and its pipe is
    // closed) whether or not anyone reads it.
    this.read(0);
  }

  override _read(): void {
    this.#reader.resume();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#reader.close();
    callback(error);
  }
}
