/**
 * @tier unit
 * Why a push waits, from nsqd's numbers (queue-explain.ts), and which pushes still wait
 * (push-queue.ts): resolved by their build's event, whichever comes first, or by a reading
 * that finds the channel empty after the push was seen.
 */
import type { NsqdChannelStats, NsqdClientStats } from '../../src/ci/nsq-api';
import type { BuildMessage } from '../../src/ci/push-event';
import type { NsqReading } from '../../src/server/nsq-readings';
import { PushQueue } from '../../src/server/push-queue';
import { channelReason, channelViews, explainChannel } from '../../src/server/queue-explain';
import { QueueWatch } from '../../src/server/queue-page';

function client(inFlight: number, ready: number): NsqdClientStats {
  return {
    client_id: 'w1',
    hostname: 'w1.example',
    remote_address: '10.0.0.2:5000',
    user_agent: 'nsqjs/0.13.0',
    ready_count: ready,
    in_flight_count: inFlight,
    message_count: 0,
    finish_count: 0,
    requeue_count: 0,
    connect_ts: 1_800_000_000,
  };
}

function channel(o: Partial<NsqdChannelStats> = {}): NsqdChannelStats {
  return {
    channel_name: 'binaries',
    depth: 0,
    in_flight_count: 0,
    deferred_count: 0,
    message_count: 0,
    requeue_count: 0,
    timeout_count: 0,
    paused: false,
    clients: [],
    ...o,
  };
}

test.each([
  ['no-worker', channel({ depth: 2 })],
  ['all-busy', channel({ depth: 2, in_flight_count: 2, clients: [client(1, 1), client(1, 1)] })],
  // A worker backing off says RDY 0: it takes nothing.
  ['all-busy', channel({ depth: 1, clients: [client(0, 0)] })],
  ['delivering', channel({ depth: 1, in_flight_count: 1, clients: [client(1, 1), client(0, 1)] })],
  ['paused', channel({ depth: 1, paused: true, clients: [client(0, 1)] })],
  ['paused', channel({ deferred_count: 1, paused: true })],
  ['retry-wait', channel({ deferred_count: 1, clients: [client(0, 1)] })],
  ['taken', channel({ in_flight_count: 1, clients: [client(1, 1)] })],
  ['empty', channel({ clients: [client(0, 1)] })],
])('%s', (reason, stats) => {
  expect(explainChannel(stats)).toBe(reason);
});

const reading = (channels: NsqdChannelStats[], at = 1000): NsqReading => ({
  at,
  nsqds: [
    {
      nsqd: '127.0.0.1:4151',
      up: true,
      stats: {
        version: '1.3.0',
        topics: [{ topic_name: 'lxcts.pushes', depth: 0, message_count: 0, paused: false, channels }],
      },
    },
  ],
});

test('job channels only (ephemeral ones are the server and the supersede watchers); an unreadable nsqd is its own reason', () => {
  const r = reading([channel({ depth: 1 }), channel({ channel_name: 'server#ephemeral', depth: 5 }), channel({ channel_name: 'x.watch-ab12#ephemeral' })]);
  const views = channelViews(r, 'lxcts.pushes');
  expect(views.map((v) => [v.channel, v.reason])).toEqual([['binaries', 'no-worker']]);
  expect(channelViews(r, 'other.topic')).toEqual([]);
  const down: NsqReading = { at: 1, nsqds: [{ nsqd: '127.0.0.1:4151', up: false, error: 'fetch failed' }] };
  expect(channelReason(channelViews(down, 'lxcts.pushes'), down, 'binaries')).toBe('nsqd-unreachable');
});

function push(delivery: string, after: string): BuildMessage {
  return {
    kind: 'push',
    delivery,
    repo: 'o/r',
    cloneUrl: 'https://example.com/o/r.git',
    ref: 'refs/heads/main',
    before: '1'.repeat(40),
    after,
    pusher: 'p',
    receivedAt: 500,
  };
}

test('a push waits on each channel until its build of that job is seen, before or after the push', () => {
  const q = new PushQueue();
  q.noteBuild({ repo: 'o/r', commit: 'a'.repeat(40), job: 'docs' });
  q.add(push('d1', 'a'.repeat(40)), 100);
  q.add(push('d1', 'a'.repeat(40)), 100);
  expect(q.waiting(['binaries', 'docs'])).toEqual([{ push: expect.objectContaining({ delivery: 'd1' }) as unknown, channels: ['binaries'] }]);
  q.noteBuild({ repo: 'o/r', commit: 'a'.repeat(40), job: 'binaries' });
  expect(q.waiting(['binaries', 'docs'])).toEqual([]);
  expect(q.find('o/r', 'a'.repeat(40))?.receivedAt).toBe(500);
});

test('a channel read empty after a push was seen: the push waits no more there (taken, no such job); a later push still waits', () => {
  const q = new PushQueue();
  q.add(push('d1', 'a'.repeat(40)), 100);
  q.add(push('d2', 'b'.repeat(40)), 300);
  q.noteChannelEmpty('binaries', 200);
  expect(q.waiting(['binaries']).map((w) => w.push.delivery)).toEqual(['d2']);
});

test('a flood of channels and waiting pushes is explained within bounds: the channels with workers first, and the rest counted', () => {
  const pushes = new PushQueue();
  for (let i = 0; i < 600; i++) pushes.add(push(`d-${i}`, i.toString(16).padStart(40, '0')), 500);
  // 1,000 channels made by anyone who can reach nsqd, each holding messages, and the real job's channel last.
  const flood = Array.from({ length: 1000 }, (_, i) => channel({ channel_name: `junk-${i}`, depth: 1 }));
  const watch = new QueueWatch({ nsq: undefined as never, topic: 'lxcts.pushes', pushes });
  const view = watch.explain(reading([...flood, channel({ channel_name: 'binaries', depth: 600, clients: [client(0, 1)] })]));
  expect(view.channels).toHaveLength(200);
  expect(view.channels[0]?.channel).toBe('binaries');
  expect(view.notShown.channels).toBe(801);
  expect(view.waiting).toHaveLength(500);
  expect(view.waiting[0]?.push.delivery).toBe('d-0');
  expect(view.notShown.waiting).toBe(100);
  // Each listed push is explained on the listed channels only.
  expect(Math.max(...view.waiting.map((w) => w.channels.length))).toBeLessThanOrEqual(200);
});
