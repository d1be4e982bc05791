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

  it('keeps 10,000 pushes and builds at most, oldest forgotten first, and a forgotten push is found no more', () => {
    const queue = new PushQueue();
    const sha = (i: number) => i.toString(16).padStart(40, '0');
    // A flood of pushes, each a commit of its own, then builds of commits no push names.
    for (let i = 0; i < 10_005; i++) queue.add(push({ delivery: `d-${i}`, after: sha(i) }));
    for (let i = 0; i < 10_005; i++) queue.noteBuild({ repo: 'alice/tool', commit: sha(100_000 + i), job: 'binaries' });
    const waiting = queue.waiting(['binaries']);
    expect(waiting).toHaveLength(10_000);
    expect(waiting[0]?.push.delivery).toBe('d-5');
    expect(queue.find('alice/tool', sha(4))).toBeUndefined();
    expect(queue.find('alice/tool', sha(5))?.delivery).toBe('d-5');
    // The oldest builds are forgotten too: a push of their commit waits again; a recent one does not.
    queue.add(push({ delivery: 'late-old', after: sha(100_000) }));
    queue.add(push({ delivery: 'late-new', after: sha(110_004) }));
    const late = queue.waiting(['binaries']).filter((w) => w.push.delivery.startsWith('late'));
    expect(late.map((w) => w.push.delivery)).toEqual(['late-old']);
    // A build of a remembered push's commit resolves that push (found through the index).
    queue.noteBuild({ repo: 'alice/tool', commit: sha(9_000), job: 'binaries' });
    expect(queue.waiting(['binaries']).some((w) => w.push.delivery === 'd-9000')).toBe(false);
  });
});
