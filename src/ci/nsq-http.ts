/**
 * Publishing to nsqd over its HTTP API, with a disk spool in front: every message is
 * written to the spool first and removed once nsqd has it, so nothing accepted is lost
 * while nsqd is down or when this process dies.
 */
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { Logger } from './logger';

/** POST /pub?topic=... on nsqd's HTTP port (host:port). */
export async function publish(nsqdHttp: string, topic: string, body: string): Promise<void> {
  const response = await fetch(`http://${nsqdHttp}/pub?topic=${encodeURIComponent(topic)}`, {
    method: 'POST',
    body,
    signal: AbortSignal.timeout(5000),
  });
  if (!response.ok) throw new Error(`nsqd ${nsqdHttp} answered ${response.status}: ${(await response.text()).trim()}`);
}

export class SpooledPublisher {
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> | undefined;

  constructor(
    private readonly nsqdHttp: string,
    private readonly topic: string,
    private readonly spoolDir: string,
    private readonly log: Logger,
    private readonly retryMs = 1000,
  ) {
    fs.mkdirSync(spoolDir, { recursive: true });
  }

  /** Spools the message durably; it is sent now if nsqd is up, later otherwise. */
  async enqueue(body: string): Promise<void> {
    const name = `${Date.now().toString().padStart(15, '0')}-${randomUUID()}.json`;
    const partial = path.join(this.spoolDir, `.${name}`);
    fs.writeFileSync(partial, body);
    fs.renameSync(partial, path.join(this.spoolDir, name));
    await this.flush();
  }

  /** Sends every spooled message, oldest first; stops at the first failure. */
  flush(): Promise<void> {
    this.#flushing ??= this.#flush().finally(() => {
      this.#flushing = undefined;
    });
    return this.#flushing;
  }

  async #flush(): Promise<void> {
    for (const name of fs.readdirSync(this.spoolDir).filter((n) => !n.startsWith('.')).sort()) {
      const file = path.join(this.spoolDir, name);
      try {
        await publish(this.nsqdHttp, this.topic, fs.readFileSync(file, 'utf8'));
        fs.rmSync(file, { force: true });
      } catch (err) {
        this.log.warn({ err: (err as Error).message, spooled: this.pending() }, 'nsqd unreachable; keeping messages spooled');
        return;
      }
    }
  }

  pending(): number {
    return fs.readdirSync(this.spoolDir).filter((n) => !n.startsWith('.')).length;
  }

  /** Retries spooled messages in the background until stop(). */
  start(): void {
    this.#timer = setInterval(() => void this.flush(), this.retryMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
