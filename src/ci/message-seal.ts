/**
 * The nsqd trust boundary. nsqd takes a message from anyone who reaches its ports (any
 * local user, any host that can connect), and what lxcts reads from it is acted on: a push
 * is cloned and built (with secrets, for a same-repository pull request), a build event or
 * log chunk is stored and posted to GitHub, a cancel stops a build. So every message on
 * lxcts's topics is sealed with an HMAC under a key the receiver, workers, server and
 * patch parser share (`--message-key-file`; `ci up` makes one), and a consumer with the key
 * drops what is not sealed with it.
 *
 * The envelope (version 1) is one ASCII line in front of the body, which stays exactly the
 * bytes it was (the JSON of a push, an event, a chunk, a cancel):
 *
 *   lxcts-seal-v1 MAC\n
 *   BODY
 *
 * MAC is the base64url (no padding, 43 characters) of HMAC-SHA256(key, "lxcts-seal-v1\n" +
 * TOPIC + "\n" + BODY). The topic is bound: a message sealed for lxcts.logs does not open on
 * lxcts.pushes. (Topic names hold no newline, see NSQ_NAME, so the input is unambiguous.)
 * The MAC is compared in constant time.
 *
 * Refused (unsigned, or a MAC that fails): the consumer finishes the message (it would
 * never become valid: no requeue), logs one line (the topic, nsqd's message id, the reason,
 * the size and the first bytes escaped), and counts it (`refusals()`, the server's
 * `lxcts_nsq_messages_refused_total`).
 *
 * Who seals: the receiver (nsq-spool.ts, as each spooled message is sent: the spool keeps
 * bodies, so a new key needs no re-spooling), the workers (events, log chunks, dead
 * letters), the server (re-runs, cancels). The post-receive hook (post-receive.ts,
 * hook-spool.ts) never talks to nsqd: it posts to the receiver, signed with the webhook
 * secret as GitHub signs, and the receiver seals what it publishes.
 *
 * Without a key, a component works as before and says once at start-up that nsqd is
 * trusted; it still reads sealed messages (the envelope is taken off unchecked), so a
 * component without the key can run beside ones with it.
 *
 * Replay: a captured sealed message can be published again on its own topic. No timestamp
 * window is checked, because NSQ keeps messages for as long as nobody takes them by design
 * (durable channels while a worker is down, a topic with no channel yet, requeues, the
 * receiver's spool while nsqd is down): any window short enough to matter would drop
 * legitimate messages. What bounds a replay is that every consumer is idempotent already:
 * build events and log chunks are applied by (build key, seq), so a replay changes nothing;
 * a push is claimed per (repository, commit, job) in the worker machine's store, so it is
 * not built again on that machine; a cancel names one build's key and carries its own time;
 * a pull request's close cancels only builds asked for before it. What a replay can do: a
 * re-run (built even when it succeeded) is built once more, and a push can be built again on
 * a machine whose store has never seen it. Both rebuild a commit a key holder already asked
 * for, with the same trust (secrets, fork) as the signed body says. One key per
 * installation: two that share a key and topic names can replay into each other.
 *
 * What the seal does not do: it authenticates, it does not hide (whoever reaches nsqd still
 * reads every message; none carries a secret), and it does not keep nsqd available (anyone
 * who reaches nsqd's HTTP port can still empty or delete a topic or channel, or take a job
 * channel's messages as a consumer). So nsqd's ports stay on loopback or a private network
 * (`ci up` binds them to 127.0.0.1).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

import type { Message, Reader } from 'nsqjs';

import type { Logger } from './logger';
import { publishMessage } from './nsq-api';
import { PrivateFileError, readPrivateFile } from './private-file';

const VERSION = 'lxcts-seal-v1';
const HEADER = Buffer.from(`${VERSION} `);
const MAC_CHARS = 43;
/** The header line with its newline. */
const HEADER_BYTES = HEADER.length + MAC_CHARS + 1;
/** The least key: 32 bytes, what `ci up` makes as 64 hex characters. */
export const MIN_MESSAGE_KEY_BYTES = 32;
/** Refused messages logged one by one per reader and minute; the rest are counted and summed up. */
const LOGGED_PER_MINUTE = 20;

/** How many bytes of a refused message the log line shows (escaped). */
const SHOWN_BYTES = 48;

export type Refusal = 'unsigned' | 'bad-mac';

export type Opened = { body: Buffer; sealed: boolean } | { refused: Refusal };

export class MessageKeyError extends Error {
  readonly code = 'MESSAGE_KEY';
}

/**
 * The message key in `file`: its bytes without a trailing newline or other whitespace, at
 * least MIN_MESSAGE_KEY_BYTES; the file must be ours, a regular file, and readable by no
 * one else (as the secrets' key, secrets.ts).
 */
export function readMessageKey(file: string): Buffer {
  let bytes: Buffer;
  try {
    bytes = readPrivateFile(file, 'message key');
  } catch (err) {
    throw err instanceof PrivateFileError ? new MessageKeyError(err.message) : err;
  }
  let end = bytes.length;
  while (end > 0 && [0x0a, 0x0d, 0x20, 0x09].includes(bytes[end - 1] as number)) end--;
  if (end < MIN_MESSAGE_KEY_BYTES)
    throw new MessageKeyError(`the message key ${file} has ${end} bytes, fewer than ${MIN_MESSAGE_KEY_BYTES} (make one with: openssl rand -hex 32)`);
  return bytes.subarray(0, end);
}

export class MessageSeal {
  readonly #key: Buffer | null;
  /** Refused messages by topic and reason (topics are the consumer's own: bounded). */
  readonly #refused = new Map<string, number>();

  /** `key`: the shared message key, or null (nsqd is trusted: nothing sealed, nothing refused). */
  constructor(key: Buffer | null) {
    this.#key = key;
  }

  get keyed(): boolean {
    return this.#key !== null;
  }

  /** `body` in its envelope for `topic` (unchanged without a key). */
  seal(topic: string, body: string): string {
    return this.#key === null ? body : `${VERSION} ${this.#mac(this.#key, topic, Buffer.from(body, 'utf8'))}\n${body}`;
  }

  /** Publishes `body` sealed for `topic` on nsqd's HTTP port: the publish seam. */
  publish(nsqdHttp: string, topic: string, body: string): Promise<void> {
    return publishMessage(nsqdHttp, topic, this.seal(topic, body));
  }

  /**
   * The body of a message read from `topic`, or why it is refused. Without a key nothing
   * is refused, and an envelope is taken off unchecked.
   */
  open(topic: string, raw: Buffer): Opened {
    const header = raw.length >= HEADER_BYTES && raw.subarray(0, HEADER.length).equals(HEADER) && raw[HEADER_BYTES - 1] === 0x0a;
    if (this.#key === null) return header ? { body: raw.subarray(HEADER_BYTES), sealed: true } : { body: raw, sealed: false };
    if (!header) return this.#refuse(topic, 'unsigned');
    const body = raw.subarray(HEADER_BYTES);
    const given = raw.subarray(HEADER.length, HEADER_BYTES - 1);
    const expected = Buffer.from(this.#mac(this.#key, topic, body), 'ascii');
    // Both are 43 bytes here (the header's length is fixed): timingSafeEqual compares all of them.
    if (!timingSafeEqual(given, expected)) return this.#refuse(topic, 'bad-mac');
    return { body, sealed: true };
  }

  /** How many messages were refused, per topic and reason, since start. */
  refusals(): Array<{ topic: string; reason: Refusal; count: number }> {
    return [...this.#refused].map(([k, count]) => {
      const [topic, reason] = k.split('\0') as [string, Refusal];
      return { topic, reason, count };
    });
  }

  #mac(key: Buffer, topic: string, body: Buffer): string {
    return createHmac('sha256', key).update(`${VERSION}\n${topic}\n`).update(body).digest('base64url');
  }

  #refuse(topic: string, reason: Refusal): Opened {
    const k = `${topic}\0${reason}`;
    this.#refused.set(k, (this.#refused.get(k) ?? 0) + 1);
    return { refused: reason };
  }
}

/**
 * The seal a component runs with: the key in `keyFile`, or none, said once (a warning)
 * so that an operator sees that nsqd is trusted. A bad key file throws MessageKeyError.
 */
export function loadMessageSeal(keyFile: string | undefined, log: Logger): MessageSeal {
  if (keyFile !== undefined) return new MessageSeal(readMessageKey(keyFile));
  log.warn(
    'no --message-key-file: nsqd is trusted, and anyone who can publish to it can forge pushes (built, with secrets for same-repository pull requests), build events, log chunks and cancels',
  );
  return new MessageSeal(null);
}

const WHY: Record<Refusal, string> = {
  unsigned: 'message without the lxcts seal dropped: only holders of the message key may publish to lxcts topics',
  'bad-mac': 'message whose seal does not verify dropped: another key, another topic, or changed bytes',
};

/** Printable ASCII as it is, every other byte as \xNN: a log line carries no byte of the sender's raw. */
export function escapedStart(raw: Buffer, max = SHOWN_BYTES): string {
  let out = '';
  for (const byte of raw.subarray(0, max))
    out += byte >= 0x20 && byte < 0x7f && byte !== 0x5c ? String.fromCharCode(byte) : `\\x${byte.toString(16).padStart(2, '0')}`;
  return raw.length > max ? `${out}...` : out;
}

/**
 * The consume seam: `handler` gets each message of `reader` (reading `topic`) whose seal
 * opens, with its body being what was sealed (`message.body` and `message.json()` read
 * it: the envelope is gone). A refused message is finished here, logged and counted; the
 * handler never sees it.
 */
export function onSealedMessage(reader: Reader, topic: string, seal: MessageSeal, log: Logger, handler: (message: Message) => void): void {
  // nsqjs keeps the channel on the reader (its types leave it out): the log says which of a process's readers refused.
  const { channel } = reader as unknown as { channel?: string };
  // A flood of forged messages must not fill the disk with warnings: at most LOGGED_PER_MINUTE
  // lines a minute per reader, then one line saying how many went unlogged (all are counted).
  let windowStart = 0;
  let logged = 0;
  let unlogged = 0;
  reader.on('message', (message: Message) => {
    const raw = message.body;
    const opened = seal.open(topic, raw);
    if ('refused' in opened) {
      message.finish();
      const now = Date.now();
      if (now - windowStart >= 60_000) {
        if (unlogged > 0) log.warn({ topic, channel, unlogged }, 'more refused messages in the last minute, not logged one by one');
        windowStart = now;
        logged = 0;
        unlogged = 0;
      }
      if (logged++ < LOGGED_PER_MINUTE) {
        log.warn({ topic, channel, id: message.id, reason: opened.refused, bytes: raw.length, start: escapedStart(raw) }, WHY[opened.refused]);
      } else unlogged++;
      return;
    }
    // nsqjs reads the body through a getter of the raw frame: an own property stands in front of it.
    if (opened.sealed) Object.defineProperty(message, 'body', { value: opened.body, configurable: true });
    handler(message);
  });
}
