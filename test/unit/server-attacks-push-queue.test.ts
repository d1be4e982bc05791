/**
 * @tier unit
 * Hostile pushes on the push topic (anyone who can publish to nsqd): the server's push
 * queue (push-queue.ts) keeps up to 10,000 of them for the queue page, so what it keeps of
 * each must be small and printable, whatever the message carried. nsqd takes messages of
 * 1 MiB by default: a pusher or a ref that large, kept as it came, makes 10 GiB.
 */
import type { BuildMessage } from '../../src/ci/push-event';
import { buildRequestSchema } from '../../src/ci/push-event';
import { PushQueue } from '../../src/server/push-queue';

const MIB = 1024 * 1024;

function push(o: Partial<BuildMessage>): BuildMessage {
  return {
    kind: 'push',
    delivery: 'd-1',
    repo: 'alice/tool',
    cloneUrl: 'https://github.com/alice/tool.git',
    ref: 'refs/heads/main',
    before: '0'.repeat(40),
    after: 'a'.repeat(40),
    pusher: 'alice',
    receivedAt: 1_800_000_000_000,
    ...o,
  };
}

/** What the topic reader does with a message: the schema decides what reaches the queue. */
function fromTopic(queue: PushQueue, message: BuildMessage): void {
  const parsed = buildRequestSchema.safeParse(JSON.parse(JSON.stringify(message)));
  if (parsed.success) queue.add(parsed.data);
}

describe('the push queue against hostile push messages', () => {
  it('keeps a pusher of one printable line of at most 100 characters, not the megabyte sent', () => {
    const queue = new PushQueue();
    // Bidi override and escape sequences: what a queue page or a terminal would show as something else.
    fromTopic(queue, push({ pusher: `mallory\u202e\x1b[2J${'x'.repeat(MIB)}` }));
    const [waiting] = queue.waiting(['binaries']);
    expect(waiting).toBeDefined();
    const pusher = waiting!.push.pusher;
    expect(pusher.length).toBeLessThanOrEqual(100);
    expect(pusher).toMatch(/^mallory/);
    // eslint-disable-next-line no-control-regex
    expect(pusher).not.toMatch(/[\x00-\x1f\x7f\u202e]/);
  });

  it('does not keep a ref longer than any event can carry (1024 characters)', () => {
    const queue = new PushQueue();
    const long = `refs/heads/${'b'.repeat(MIB)}`;
    // The worker's own check lets it through: only the queue can bound what it keeps.
    expect(buildRequestSchema.safeParse(push({ ref: long })).success).toBe(true);
    fromTopic(queue, push({ delivery: 'long', ref: long }));
    fromTopic(queue, push({ delivery: 'short', after: 'b'.repeat(40) }));
    const kept = queue.waiting(['binaries']).map((w) => w.push);
    expect(kept.map((p) => p.delivery)).toEqual(['short']);
    expect(kept.every((p) => p.ref.length <= 1024)).toBe(true);
  });
});
