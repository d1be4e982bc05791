/**
 * Every call the CI makes to the HTTP APIs of nsqd and nsqlookupd, so that their
 * timeouts and failures are handled in one place. Reading and writing messages over TCP is
 * nsqjs's job (worker.ts); this module publishes, creates topics and channels, reads
 * nsqd's --max-msg-timeout and asks nsqlookupd where an nsqd is.
 *
 * Addresses are host:port of an HTTP port, given by the operator or found through
 * nsqlookupd; topic and channel names are checked against NSQ_NAME by the callers that
 * take them from flags.
 */
import { z } from 'zod';

/** How long any one call to nsqd or nsqlookupd may take. */
const CALL_TIMEOUT_MS = 5000;

/** What nsqd accepts as a topic or (durable) channel name. */
export const NSQ_NAME = /^[.a-zA-Z0-9_-]{1,64}$/;

/** POST /pub?topic=... on nsqd's HTTP port (host:port): one message, accepted once this returns. */
export async function publishMessage(nsqdHttp: string, topic: string, body: string): Promise<void> {
  const response = await fetch(`http://${nsqdHttp}/pub?topic=${encodeURIComponent(topic)}`, {
    method: 'POST',
    body,
    signal: AbortSignal.timeout(CALL_TIMEOUT_MS),
  });
  if (!response.ok) throw new Error(`nsqd ${nsqdHttp} answered ${response.status}: ${(await response.text()).trim()}`);
}

async function post(nsqdHttp: string, what: string): Promise<void> {
  const response = await fetch(`http://${nsqdHttp}/${what}`, { method: 'POST', signal: AbortSignal.timeout(CALL_TIMEOUT_MS) });
  if (!response.ok) throw new Error(`nsqd ${nsqdHttp} ${what.split('?')[0]}: ${response.status} ${(await response.text()).trim()}`);
}

/**
 * Creates `topic` and its `channels` on nsqd (both calls are idempotent). A channel made
 * this way is durable (nsqd keeps it in its metadata file) and receives every message
 * published from now on, whether or not a worker of it has ever connected: nsqd hands a
 * topic's messages only to the channels that exist when they are published.
 */
export async function createTopicAndChannels(nsqdHttp: string, topic: string, channels: readonly string[]): Promise<void> {
  await post(nsqdHttp, `topic/create?topic=${encodeURIComponent(topic)}`);
  for (const channel of channels) {
    await post(nsqdHttp, `channel/create?topic=${encodeURIComponent(topic)}&channel=${encodeURIComponent(channel)}`);
  }
}

/** nsqd's --max-msg-timeout in milliseconds: no TOUCH keeps a message in flight longer. */
export async function readMaxMsgTimeoutMs(nsqdHttp: string): Promise<number> {
  const response = await fetch(`http://${nsqdHttp}/config/max_msg_timeout`, { signal: AbortSignal.timeout(CALL_TIMEOUT_MS) });
  if (!response.ok) throw new Error(`cannot read max_msg_timeout from nsqd ${nsqdHttp}: ${response.status}`);
  // nsqd answers in nanoseconds.
  return Number(await response.text()) / 1e6;
}

const channelStatsSchema = z.object({
  topics: z.array(z.object({ topic_name: z.string(), channels: z.array(z.object({ channel_name: z.string(), clients: z.array(z.unknown()) })) })).nullable(),
});

/** How many consumers are connected to `channel` of `topic` on nsqd (0 while neither exists). */
export async function channelClientCount(nsqdHttp: string, topic: string, channel: string): Promise<number> {
  const query = `format=json&topic=${encodeURIComponent(topic)}&channel=${encodeURIComponent(channel)}`;
  const response = await fetch(`http://${nsqdHttp}/stats?${query}`, { signal: AbortSignal.timeout(CALL_TIMEOUT_MS) });
  if (!response.ok) throw new Error(`nsqd ${nsqdHttp} /stats: ${response.status}`);
  const { topics } = channelStatsSchema.parse(await response.json());
  const found = topics?.find((t) => t.topic_name === topic)?.channels.find((c) => c.channel_name === channel);
  return found?.clients.length ?? 0;
}

const nodesSchema = z.object({ producers: z.array(z.object({ broadcast_address: z.string().regex(/^[^/?#@\s]+$/), http_port: z.number().int() })) });

/**
 * The HTTP address (host:port) of the first nsqd that one of `lookupdHttp` (nsqlookupd HTTP
 * addresses, asked in order) knows, or null when none knows any. A nsqlookupd that cannot
 * be reached fails the call, as it did when this lived in the worker command.
 */
export async function findNsqdHttp(lookupdHttp: readonly string[]): Promise<string | null> {
  for (const address of lookupdHttp) {
    const response = await fetch(`http://${address}/nodes`, { signal: AbortSignal.timeout(CALL_TIMEOUT_MS) });
    if (!response.ok) throw new Error(`nsqlookupd ${address} /nodes: ${response.status} ${(await response.text()).trim()}`);
    const node = nodesSchema.parse(await response.json()).producers[0];
    if (node) return `${node.broadcast_address}:${node.http_port}`;
  }
  return null;
}
