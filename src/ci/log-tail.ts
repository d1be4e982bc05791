/**
 * `lxcts ci logs ID --follow` on this machine: the build's log file, written as it grows,
 * until the build's row in the builds database is final.
 *
 * A change to the file wakes the reader at once (fs.watch); the row is looked at again at
 * least every second, since SQLite tells nobody. The builder writes the final row, then its
 * last note, then closes the log: after the row is final the file is read until it has been
 * quiet for a moment.
 */
import * as fs from 'node:fs';
import type { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';

import { isFinishedStatus } from './build-status';
import type { BuildRecord, BuildStore } from './store';

const LOOK_AGAIN_MS = 1000;
/** After the row is final, the log is complete once it has not grown for this long. */
const SETTLE_MS = 300;

export async function followLocalLog(store: BuildStore, id: number, out: Writable, signal?: AbortSignal): Promise<{ build: BuildRecord; bytes: number }> {
  let offset = 0;
  let fd: number | null = null;
  const buffer = Buffer.alloc(64 * 1024);
  /** Writes what the file has past `offset`; true when there was something. */
  const drain = async (logPath: string | null): Promise<boolean> => {
    if (fd === null && logPath && fs.existsSync(logPath)) fd = fs.openSync(logPath, 'r');
    if (fd === null) return false;
    let grew = false;
    for (;;) {
      const n = fs.readSync(fd, buffer, 0, buffer.length, offset);
      if (n === 0) return grew;
      grew = true;
      offset += n;
      if (!out.write(Buffer.from(buffer.subarray(0, n)))) await new Promise((resolve) => out.once('drain', resolve));
    }
  };
  try {
    for (;;) {
      const build = store.get(id);
      if (!build) throw new Error(`there is no build ${id}`);
      await drain(build.logPath);
      if (isFinishedStatus(build.status)) {
        // The builder's last note and the close come just after the final row.
        do await sleep(SETTLE_MS, undefined, { signal });
        while (await drain(build.logPath));
        return { build, bytes: offset };
      }
      await changeOf(build.logPath, signal);
    }
  } finally {
    if (fd !== null) fs.closeSync(fd);
  }
}

/** Resolves when the file changes, or after LOOK_AGAIN_MS. */
async function changeOf(file: string | null, signal?: AbortSignal): Promise<void> {
  const done = new AbortController();
  const both = signal ? AbortSignal.any([signal, done.signal]) : done.signal;
  try {
    const waits: Promise<unknown>[] = [sleep(LOOK_AGAIN_MS, undefined, { signal: both })];
    if (file && fs.existsSync(file)) {
      const watcher = fs.promises.watch(file, { signal: both });
      waits.push(watcher[Symbol.asyncIterator]().next());
    }
    await Promise.race(waits);
  } catch (err) {
    if (signal?.aborted) throw err;
  } finally {
    done.abort();
  }
}
