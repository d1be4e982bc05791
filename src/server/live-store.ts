/** The server store with a signal for live views: which build changed, as soon as it did. */
import { EventEmitter } from 'node:events';

import type { LogChunk } from '../ci/log-chunks';
import type { EventsTopicWire } from './event-wire';
import { ServerStore } from './server-store';

/**
 * The server store, telling in-process listeners (the live log) which build changed as
 * soon as a write has committed: 'build' with the build key.
 */
export class LiveStore extends ServerStore {
  readonly changes = new EventEmitter();

  constructor(file: string) {
    super(file);
    // One listener per open live page: no leak warning at 11 pages.
    this.changes.setMaxListeners(0);
  }

  override ingestEvent(event: EventsTopicWire): string[] {
    const changed = super.ingestEvent(event);
    for (const key of changed) this.changes.emit('build', key);
    return changed;
  }

  override approveWaiting(key: string, by: string, at: number): boolean {
    const approved = super.approveWaiting(key, by, at);
    if (approved) this.changes.emit('build', key);
    return approved;
  }

  override unapproveWaiting(key: string, seq: number, message: string | null): void {
    super.unapproveWaiting(key, seq, message);
    this.changes.emit('build', key);
  }

  override cancelWaiting(key: string, message: string): boolean {
    const cancelled = super.cancelWaiting(key, message);
    if (cancelled) this.changes.emit('build', key);
    return cancelled;
  }

  override ingestChunk(chunk: LogChunk): void {
    super.ingestChunk(chunk);
    this.changes.emit('build', chunk.build);
  }

  /** Resolves when build `key` changes, after `ms` at the latest, or at once when `signal` aborts. */
  nextChange(key: string, ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.changes.off('build', onChange);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const onChange = (changed: string) => {
        if (changed === key) done();
      };
      const timer = setTimeout(done, ms);
      this.changes.on('build', onChange);
      signal?.addEventListener('abort', done, { once: true });
      if (signal?.aborted) done();
    });
  }
}
