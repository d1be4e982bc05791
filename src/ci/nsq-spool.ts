/**
 * The receiver's way of publishing to nsqd, with a disk spool in front: every message is
 * written to the spool first and removed once nsqd has it, so nothing accepted is lost
 * while nsqd is down or when this process dies. Before the first message reaches an nsqd,
 * the topic and every configured channel are created there (see createTopicAndChannels),
 * so a channel whose first worker connects later still gets every message.
 */
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { Logger } from './logger';
import { MessageSeal } from './message-seal';
import { createTopicAndChannels, NSQ_NAME } from './nsq-api';

export class SpooledPublisher {
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> | undefined;
  /** Whether the topic and channels are known to exist on nsqd (reset when nsqd fails). */
  #topologyReady = false;

  /** `channels`: created with the topic before anything is published (see createTopicAndChannels). */
  constructor(
    private readonly nsqdHttp: string,
    private readonly topic: string,
    private readonly spoolDir: string,
    private readonly log: Logger,
    private readonly retryMs = 1000,
    private readonly channels: readonly string[] = [],
    /** Seals each message as it is sent (message-seal.ts): the spool keeps bodies, a key change needs no re-spooling. */
    private readonly seal = new MessageSeal(null),
  ) {
    for (const name of [topic, ...channels]) {
      if (!NSQ_NAME.test(name)) throw new Error(`"${name}" is not a valid NSQ topic or channel name (1-64 of . a-z A-Z 0-9 _ -)`);
    }
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

  /**
   * Creates the topic and channels now (at start-up), so they exist even before the first
   * push; when nsqd is down, this happens before the first message is sent instead.
   */
  async prepare(): Promise<void> {
    try {
      await createTopicAndChannels(this.nsqdHttp, this.topic, this.channels);
      this.#topologyReady = true;
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'nsqd unreachable; topic and channels will be created before the first publish');
    }
  }

  /** Sends every spooled message, oldest first; stops at the first failure. */
  flush(): Promise<void> {
    this.#flushing ??= this.#flush().finally(() => {
      this.#flushing = undefined;
    });
    return this.#flushing;
  }

  async #flush(): Promise<void> {
    for (const name of fs
      .readdirSync(this.spoolDir)
      .filter((n) => !n.startsWith('.'))
      .sort()) {
      const file = path.join(this.spoolDir, name);
      try {
        if (!this.#topologyReady) {
          await createTopicAndChannels(this.nsqdHttp, this.topic, this.channels);
          this.#topologyReady = true;
        }
        await this.seal.publish(this.nsqdHttp, this.topic, fs.readFileSync(file, 'utf8'));
        fs.rmSync(file, { force: true });
      } catch (err) {
        // nsqd may come back empty (a new machine, a lost data path): create them again.
        this.#topologyReady = false;
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
