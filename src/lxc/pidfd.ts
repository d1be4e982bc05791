/**
 * A pidfd for a container's init (initPidFd): a file descriptor this process owns.
 *
 * Why an object and not a bare number: a number has no owner, so nothing would close it
 * when the caller forgets, and a second close() could hit a descriptor that reused the
 * number. PidFd closes once (later calls do nothing), works with `using` (Symbol.dispose),
 * and one that is garbage-collected unclosed is closed then, with a warning, as Node does
 * for a forgotten FileHandle.
 */
import { closeSync } from 'node:fs';

import type { NativeFd } from './native';

/** Closes a descriptor through its owner when there is one (the addon's, which a worker's end closes too). */
function closeFd(fd: number, owner: NativeFd | undefined): void {
  if (owner) owner.close();
  else closeSync(fd);
}

const forgotten = new FinalizationRegistry<{ fd: number; owner: NativeFd | undefined }>(({ fd, owner }) => {
  try {
    closeFd(fd, owner);
  } catch {
    // Already gone: nothing to free.
  }
  process.emitWarning(`lxcts: closing pidfd ${fd} on garbage collection; call close() (or use \`using\`) when done with it`);
});

export class PidFd {
  #fd: number;
  readonly #owner: NativeFd | undefined;

  /**
   * `owner` (initPidFd() passes one) holds the descriptor for the addon, which also closes
   * it when the worker_thread that opened it ends: a garbage collector that never runs
   * again cannot.
   */
  constructor(fd: number, owner?: NativeFd) {
    this.#fd = fd;
    this.#owner = owner;
    forgotten.register(this, { fd, owner }, this);
  }

  /**
   * The descriptor, to hand to something that takes one (a child's stdio, a poll): it
   * becomes readable when the init exits. Close it only through close(). -1 once closed.
   */
  get fd(): number {
    return this.#fd;
  }

  get closed(): boolean {
    return this.#fd < 0;
  }

  /** Closes the descriptor; later calls do nothing. */
  close(): void {
    if (this.#fd < 0) return;
    const fd = this.#fd;
    this.#fd = -1;
    forgotten.unregister(this);
    closeFd(fd, this.#owner);
  }
}

// `using pidfd = await c.initPidFd()` (Node 20+, TypeScript with lib esnext.disposable).
if (typeof Symbol.dispose === 'symbol') {
  Object.defineProperty(PidFd.prototype, Symbol.dispose, {
    value(this: PidFd) {
      this.close();
    },
  });
}
