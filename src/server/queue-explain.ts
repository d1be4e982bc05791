/**
 * Why a push is still queued, from one reading of nsqd's stats: each job channel of the
 * push topic (every channel but the ephemeral ones: the server's own and the workers'
 * supersede watchers) is explained by what nsqd says of it and of the workers connected
 * to it. Pure: the page and the JSON API render what this returns.
 */
import type { NsqdChannelStats } from '../ci/nsq-api';
import type { NsqReading } from './nsq-readings';

export type QueueReason =
  /** nsqd could not be read: nothing is known. */
  | 'nsqd-unreachable'
  /** The channel is paused (nsqd /channel/pause): nsqd hands nothing out. */
  | 'paused'
  /** Messages wait and no worker is connected to the channel. */
  | 'no-worker'
  /** Messages wait and every connected worker holds as many as it said it takes (in-flight = ready). */
  | 'all-busy'
  /** Only messages requeued with a delay wait (a failed build's retry). */
  | 'retry-wait'
  /** Nothing waits; a worker holds the messages and has not started their builds yet. */
  | 'taken'
  /** Messages wait and a worker has room: nsqd is handing them out. */
  | 'delivering'
  /** The channel holds nothing. */
  | 'empty';

export const REASON_TEXT: Record<QueueReason, string> = {
  'nsqd-unreachable': 'nsqd unreachable: nothing is known',
  paused: 'the channel is paused (nsqd /channel/unpause resumes it)',
  'no-worker': 'no worker on this channel',
  'all-busy': 'all workers on this channel are busy',
  'retry-wait': 'waiting for a retry (requeued with a delay)',
  taken: 'taken by a worker, not started yet',
  delivering: 'being handed to a worker',
  empty: 'nothing waiting',
};

export interface WorkerView {
  hostname: string;
  clientId: string;
  remoteAddress: string;
  userAgent: string;
  inFlight: number;
  ready: number;
  /** ISO time it connected. */
  connectedAt: string;
  finished: number;
  requeued: number;
}

export interface ChannelView {
  nsqd: string;
  topic: string;
  channel: string;
  depth: number;
  inFlight: number;
  deferred: number;
  paused: boolean;
  messages: number;
  requeued: number;
  timedOut: number;
  workers: WorkerView[];
  reason: QueueReason;
  why: string;
}

/** What nsqd's numbers say about one channel. */
export function explainChannel(c: NsqdChannelStats): QueueReason {
  const clients = c.clients ?? [];
  const waiting = c.depth > 0;
  if (c.paused && (waiting || c.deferred_count > 0)) return 'paused';
  if (waiting) {
    if (clients.length === 0) return 'no-worker';
    // A worker backing off sends RDY 0: it takes nothing either.
    if (clients.every((w) => w.in_flight_count >= w.ready_count)) return 'all-busy';
    return 'delivering';
  }
  if (c.deferred_count > 0) return 'retry-wait';
  if (c.in_flight_count > 0) return 'taken';
  return c.paused ? 'paused' : 'empty';
}

const isJobChannel = (name: string) => !name.endsWith('#ephemeral');

/** Every job channel of `topic` on every nsqd read, explained. */
export function channelViews(reading: NsqReading, topic: string): ChannelView[] {
  const views: ChannelView[] = [];
  for (const n of reading.nsqds) {
    const t = n.stats?.topics?.find((x) => x.topic_name === topic);
    for (const c of t?.channels ?? []) {
      if (!isJobChannel(c.channel_name)) continue;
      const reason = explainChannel(c);
      views.push({
        nsqd: n.nsqd,
        topic,
        channel: c.channel_name,
        depth: c.depth,
        inFlight: c.in_flight_count,
        deferred: c.deferred_count,
        paused: c.paused,
        messages: c.message_count,
        requeued: c.requeue_count,
        timedOut: c.timeout_count,
        workers: (c.clients ?? []).map((w) => ({
          hostname: w.hostname,
          clientId: w.client_id,
          remoteAddress: w.remote_address,
          userAgent: w.user_agent,
          inFlight: w.in_flight_count,
          ready: w.ready_count,
          connectedAt: new Date(w.connect_ts * 1000).toISOString(),
          finished: w.finish_count,
          requeued: w.requeue_count,
        })),
        reason,
        why: REASON_TEXT[reason],
      });
    }
  }
  return views;
}

/**
 * Why a push waiting on `channel` waits: what the channel's rows say (one per nsqd that
 * has it; the first one holding something decides), or that nsqd could not be read.
 */
export function channelReason(views: readonly ChannelView[], reading: NsqReading, channel: string): QueueReason {
  const rows = views.filter((v) => v.channel === channel);
  const busy = rows.find((v) => v.reason !== 'empty');
  if (busy) return busy.reason;
  if (reading.nsqds.length === 0 || reading.nsqds.some((n) => !n.up)) return 'nsqd-unreachable';
  return 'empty';
}
