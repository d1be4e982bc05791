/** A build's log: written to its file and, when someone watches, to a live stream too. */
import * as fs from 'node:fs';
import type { Writable } from 'node:stream';

export class BuildLog {
  readonly #file: fs.WriteStream;

  constructor(
    readonly path: string,
    private readonly live?: Writable,
  ) {
    this.#file = fs.createWriteStream(path, { flags: 'a' });
    // A full disk must not crash the builder with a container running: the live stream
    // and the build's result still get through.
    this.#file.on('error', () => undefined);
  }

  /** A line of lxcts's own (step headers, results), marked so it stands out from output. */
  note(line: string): void {
    this.write(`==> ${line}\n`);
  }

  write(chunk: string | Buffer): void {
    this.#file.write(chunk);
    this.live?.write(chunk);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.#file.end(resolve));
  }
}
