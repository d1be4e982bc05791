/**
 * A build's log: written to its file and, when someone watches, to a live stream too.
 *
 * Build output is kept up to a size limit; past it the output is dropped (counted, not
 * stored) and the build goes on, as GitLab's runners do: a chatty build must not fill the
 * host's disk, and losing its log tail is not a reason to fail it. lxcts's own notes (step
 * headers, exit codes, the result) are always written, so the log still tells what happened.
 *
 * With a masker, the job's secret values are masked in everything written, before the file
 * and the live stream see it: output through the masker's stream (a value split across two
 * writes is still masked), notes whole (what is held back of the output goes first).
 */
import * as fs from 'node:fs';
import type { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';

import { formatBytes } from './limits';
import type { SecretMasker } from './secret-mask';

export class BuildLog {
  readonly #file: fs.WriteStream;
  /** Bytes of build output written so far. */
  #written = 0;
  /** Bytes of build output dropped past the limit. */
  #dropped = 0;

  constructor(
    readonly path: string,
    private readonly live?: Writable,
    /** Most bytes of build output to keep. */
    private readonly limit = Infinity,
    private readonly masker?: SecretMasker,
  ) {
    this.#file = fs.createWriteStream(path, { flags: 'a' });
    // A full disk must not crash the builder with a container running: the live stream
    // and the build's result still get through.
    this.#file.on('error', () => undefined);
  }

  get dropped(): number {
    return this.#dropped;
  }

  /** A line of lxcts's own (step headers, results), marked so it stands out from output. */
  note(line: string): void {
    if (this.masker) this.#keep(this.masker.end());
    this.#emit(`==> ${this.masker ? this.masker.mask(line) : line}\n`);
  }

  /** Build output: kept while under the limit. */
  write(chunk: string | Buffer): void {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    this.#keep(this.masker ? this.masker.write(bytes) : bytes);
  }

  #keep(bytes: Buffer): void {
    if (bytes.length === 0) return;
    const room = this.limit - this.#written;
    if (bytes.length <= room) {
      this.#written += bytes.length;
      this.#emit(bytes);
      return;
    }
    if (room > 0) {
      this.#written += room;
      this.#emit(bytes.subarray(0, room));
    }
    if (this.#dropped === 0) this.#emit(`\n==> log limit of ${formatBytes(this.limit)} reached: further output is not kept (the build goes on)\n`);
    this.#dropped += bytes.length - Math.max(room, 0);
  }

  #emit(chunk: string | Buffer): void {
    this.#file.write(chunk);
    this.live?.write(chunk);
  }

  close(): Promise<void> {
    if (this.masker) this.#keep(this.masker.end());
    if (this.#dropped > 0) this.note(`log truncated: ${this.#dropped} bytes of output past the ${formatBytes(this.limit)} limit were dropped`);
    // Resolves on a write error too: it was already ignored (see the constructor).
    return finished(this.#file.end()).catch(() => undefined);
  }
}
