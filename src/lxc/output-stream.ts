/**
 * spawn()'s stdout and stderr: a pipe the addon reads (addon/output_stream.h), handed over
 * in chunks of up to 64 KiB instead of one chunk per wake-up.
 *
 * A pipe wakes its reader on every write, and many programs write 4 KiB at a time: a
 * net.Socket ran its JavaScript path (a Buffer, push(), the consumer) for each, about 250
 * times per MB. The addon reads in C++ and calls here once per 64 KiB, at end-of-file, or
 * when output has waited 1-2 ms without filling a chunk; bulk output it reads once per
 * millisecond rather than on every write (addon/output_stream.h).
 */
import { Readable } from 'node:stream';

import type { NativeBinding, NativeOutputStream } from './native';

/** What the command writes to one of its pipes; ends at end-of-file. */
export class PipeOutput extends Readable {
  readonly #reader: NativeOutputStream;

  constructor(fd: number, binding: NativeBinding) {
    super();
    this.#reader = new binding.OutputStream(fd, (chunk, error) => {
      if (error !== undefined) this.destroy(new Error(error));
      else if (chunk === null) this.push(null);
      // Back-pressure: the command blocks once the pipe is full, until _read() asks for more.
      else if (!this.push(chunk)) this.#reader.pause();
    });
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
