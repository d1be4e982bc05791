/**
 * A build's log, sent to the CI server while the build runs, as numbered chunks on an NSQ
 * topic (the worker's local log file stays as it was: this is a second copy).
 *
 * NSQ delivers at least once and in no particular order, so every chunk says which build
 * it belongs to (the build key of its events), its number (`seq`, from 0, no gaps) and
 * where its bytes start in the log (`offset`): the server stores chunks by (build, seq),
 * ignoring one it already has, and reads them back in `seq` order, which gives the one
 * complete log whatever order or how many times they came. The `finished` event carries
 * how many chunks and bytes the log has, so the server knows when it has all of it.
 *
 * Output is cut into a chunk at `maxBytes` or `flushMs` after the first byte waiting,
 * whichever comes first: a line is on its way within `flushMs`, and a chatty build sends
 * few large messages instead of one per write.
 */
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';

import { z } from 'zod';

/** The topic workers publish log chunks to unless told otherwise. */
export const LOGS_TOPIC = 'lxcts.logs';
export const CHUNK_MAX_BYTES = 16 * 1024;
export const CHUNK_FLUSH_MS = 100;

/** What identifies a build across workers and machines: a random UUID per build. */
export const buildKeySchema = z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);

/** One chunk on the wire (JSON). `data` is the chunk's bytes in base64. */
export const logChunkSchema = z.object({
  v: z.literal(1),
  build: buildKeySchema,
  seq: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  offset: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  /** The step running when the bytes were written (1-based, as in step events), null before the first. */
  step: z.number().int().min(0).max(100_000).nullable(),
  /** When the chunk was cut (ms since the epoch, the worker's clock). */
  at: z.number().int().min(0),
  // base64 of at most 1 MiB: larger is not a chunk this producer sends.
  data: z
    .string()
    .max(Math.ceil((1024 * 1024) / 3) * 4)
    .regex(/^[A-Za-z0-9+/]*={0,2}$/),
});
export type LogChunk = z.infer<typeof logChunkSchema>;

/** How much of a build's log was sent: the `finished` event carries it. */
export interface LogTotals {
  chunks: number;
  bytes: number;
}

export interface LogChunksOptions {
  /** Publishes one chunk (JSON); rejects when nsqd did not take it. */
  send: (body: string) => Promise<void>;
  /** Told when a chunk could not be published after its retries. */
  onLost?: (err: Error, chunk: { build: string; seq: number }) => void;
  maxBytes?: number;
  flushMs?: number;
  /** Attempts per chunk before it is given up (the local log still has it). */
  attempts?: number;
}

/**
 * The builder's live output stream (`BuildRequest.output`) for one worker message: bytes
 * written before `bind` (a build not yet claimed) are not sent.
 */
export class LogChunks extends Writable {
  #build: string | undefined;
  #step: number | null = null;
  #seq = 0;
  #offset = 0;
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  #timer: NodeJS.Timeout | undefined;
  readonly #sends = new Set<Promise<void>>();

  constructor(private readonly options: LogChunksOptions) {
    super();
  }

  /** From now on, output belongs to build `key` (numbered from 0). */
  bind(key: string): void {
    this.flush();
    this.#build = key;
    this.#step = null;
    this.#seq = 0;
    this.#offset = 0;
  }

  /** Output from now on is step `step`'s: what is waiting goes out as the previous step's. */
  step(step: number): void {
    this.flush();
    this.#step = step;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.#build !== undefined && chunk.length > 0) {
      const max = this.options.maxBytes ?? CHUNK_MAX_BYTES;
      let rest = chunk;
      while (rest.length > 0) {
        const take = rest.subarray(0, max - this.#pendingBytes);
        this.#pending.push(take);
        this.#pendingBytes += take.length;
        rest = rest.subarray(take.length);
        if (this.#pendingBytes >= max) this.flush();
      }
      if (this.#pendingBytes > 0) this.#timer ??= setTimeout(() => this.flush(), this.options.flushMs ?? CHUNK_FLUSH_MS);
    }
    callback();
  }

  /** Sends what is waiting as one chunk now; returns what was sent of the build so far. */
  flush(): LogTotals {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const build = this.#build;
    if (build !== undefined && this.#pendingBytes > 0) {
      const data = Buffer.concat(this.#pending);
      const chunk: LogChunk = { v: 1, build, seq: this.#seq, offset: this.#offset, step: this.#step, at: Date.now(), data: data.toString('base64') };
      this.#seq += 1;
      this.#offset += data.length;
      const sending = this.#send(chunk).finally(() => this.#sends.delete(sending));
      this.#sends.add(sending);
    }
    this.#pending = [];
    this.#pendingBytes = 0;
    return { chunks: this.#seq, bytes: this.#offset };
  }

  /**
   * Waits until every write made so far has reached `_write`, then flushes: the totals
   * count everything the builder wrote before calling this.
   */
  async settle(): Promise<LogTotals> {
    if (this.writableNeedDrain) await new Promise((resolve) => this.once('drain', resolve));
    return this.flush();
  }

  /** Flushes, stops the timer and waits for chunks still being published. */
  async close(): Promise<void> {
    this.flush();
    this.end();
    await Promise.all([...this.#sends]);
  }

  async #send(chunk: LogChunk): Promise<void> {
    const body = JSON.stringify(chunk);
    const attempts = this.options.attempts ?? 3;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.options.send(body);
        return;
      } catch (err) {
        if (attempt >= attempts) {
          this.options.onLost?.(err as Error, { build: chunk.build, seq: chunk.seq });
          return;
        }
        await sleep(200 * attempt);
      }
    }
  }
}
