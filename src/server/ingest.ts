/**
 * The server's consumers: build events (`lxcts.builds`) and log chunks (`lxcts.logs`), each
 * read by nsqjs on the server's own channel and written to the server store. A message is
 * finished (FIN) only once its write has committed: a server killed before that gets it
 * again from nsqd, and the store ignores what it already has (server-store.ts), so a
 * restart loses nothing and duplicates nothing. A message that is not a valid event or
 * chunk is finished with a warning (it would never become valid); a failed write is
 * requeued.
 */
import { Reader } from 'nsqjs';

import { logChunkSchema, LOGS_TOPIC } from '../ci/log-chunks';
import type { Logger } from '../ci/logger';
import { MessageSeal, onSealedMessage } from '../ci/message-seal';
import { createTopicAndChannels } from '../ci/nsq-api';
import { eventsTopicSchema } from './event-wire';
import type { ServerStore } from './server-store';

export const EVENTS_TOPIC = 'lxcts.builds';
export const SERVER_CHANNEL = 'server';

export type IngestResult = 'stored' | 'invalid';

/** Parses and stores one event body (JSON text); 'invalid' when it is not an event. */
export function ingestEventBody(store: ServerStore, body: string): IngestResult {
  const parsed = eventsTopicSchema.safeParse(parseJson(body));
  if (!parsed.success) return 'invalid';
  store.ingestEvent(parsed.data);
  return 'stored';
}

/** Parses and stores one log chunk body (JSON text); 'invalid' when it is not a chunk. */
export function ingestChunkBody(store: ServerStore, body: string): IngestResult {
  const parsed = logChunkSchema.safeParse(parseJson(body));
  if (!parsed.success) return 'invalid';
  store.ingestChunk(parsed.data);
  return 'stored';
}

function parseJson(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    return undefined;
  }
}

export interface IngestOptions {
  store: ServerStore;
  /** nsqlookupd HTTP addresses to discover nsqd through... */
  lookupd?: string[];
  /** ...or nsqd TCP addresses to connect to directly. */
  nsqd?: string[];
  /** nsqd HTTP addresses on which to create the topics and channel ahead of the first event. */
  nsqdHttp?: string[];
  eventsTopic?: string;
  logsTopic?: string;
  channel?: string;
  /** Delay before a message whose write failed comes back. */
  requeueDelayMs?: number;
  /** Opens what it reads (message-seal.ts). Default: none, nsqd trusted. */
  seal?: MessageSeal;
  log: Logger;
}

export interface Ingest {
  close(): void;
}

/** Starts both consumers; `close()` stops them (unfinished messages go back to nsqd). */
export async function startIngest(o: IngestOptions): Promise<Ingest> {
  const channel = o.channel ?? SERVER_CHANNEL;
  const seal = o.seal ?? new MessageSeal(null);
  const topics: Array<[string, (store: ServerStore, body: string) => IngestResult]> = [
    [o.eventsTopic ?? EVENTS_TOPIC, ingestEventBody],
    [o.logsTopic ?? LOGS_TOPIC, ingestChunkBody],
  ];
  // The channel must exist before workers publish, or nsqd gives those messages to the
  // channels that existed then (the workers' own) and the server never sees them.
  for (const http of o.nsqdHttp ?? []) {
    for (const [topic] of topics) await createTopicAndChannels(http, topic, [channel]);
  }
  const readers = topics.map(([topic, ingest]) => {
    const reader = new Reader(topic, channel, {
      lookupdHTTPAddresses: o.lookupd ?? [],
      nsqdTCPAddresses: o.nsqd ?? [],
      lookupdPollInterval: 1,
      maxInFlight: 200,
      maxAttempts: 0,
      // nsqd holds a reader's messages up to 250 ms by default to batch them: a log line
      // would wait that long before the server sees it. 25 ms is the least nsqd accepts by default.
      outputBufferTimeout: 25,
    });
    reader.on('error', (err: Error) => o.log.warn({ topic, err: err.message }, 'nsq error'));
    onSealedMessage(reader, topic, seal, o.log, (message) => {
      try {
        if (ingest(o.store, message.body.toString('utf8')) === 'invalid') o.log.warn({ topic, id: message.id }, 'not a valid message; dropped');
        message.finish();
      } catch (err) {
        o.log.error({ topic, err: (err as Error).message }, 'store write failed; requeued');
        message.requeue(o.requeueDelayMs ?? 1000, false);
      }
    });
    reader.connect();
    return reader;
  });
  return { close: () => readers.forEach((r) => r.close()) };
}
