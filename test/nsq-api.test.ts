/**
 * The CI's calls to nsqd and nsqlookupd (src/ci/nsq-api.ts), against real ones: publish,
 * topics and channels, --max-msg-timeout, and finding an nsqd through nsqlookupd, whose
 * answer is checked before it becomes a URL.
 */
import { createTopicAndChannels, findNsqdHttp, publishMessage, readMaxMsgTimeoutMs } from '../src/ci/nsq-api';
import { failureOf } from './helpers/failure';
import { TestNsq } from './helpers/nsq';
import { topicStats } from './helpers/pipeline';
import { waitFor } from './helpers/wait';

const nsq = new TestNsq({ lookupd: true, nsqdFlags: ['--max-msg-timeout=20m'] });
// nsqd registers whatever --broadcast-address it was given; nsqlookupd hands it on as is.
const hostile = new TestNsq({ lookupd: true, nsqdFlags: ['--broadcast-address=evil.example/x?'] });

beforeAll(async () => {
  await nsq.start();
  await hostile.start();
});
afterAll(async () => {
  await nsq.stop();
  await hostile.stop();
});

test('a message published after createTopicAndChannels waits in every one of the channels', async () => {
  await createTopicAndChannels(nsq.nsqdHttp, 'api.pushes', ['binaries', 'docs']);
  await publishMessage(nsq.nsqdHttp, 'api.pushes', '{"n":1}');
  const topic = await topicStats(nsq.nsqdHttp, 'api.pushes');
  expect(Object.fromEntries((topic?.channels ?? []).map((c) => [c.channel_name, c.depth]))).toEqual({ binaries: 1, docs: 1 });
});

test('publishMessage says what nsqd answered when it refuses the message', async () => {
  expect((await failureOf(publishMessage(nsq.nsqdHttp, 'not a topic', 'x'))).message).toMatch(/^nsqd 127\.0\.0\.1:\d+ answered 400: .*INVALID_TOPIC/);
});

test("readMaxMsgTimeoutMs is nsqd's --max-msg-timeout in milliseconds", async () => {
  expect(await readMaxMsgTimeoutMs(nsq.nsqdHttp)).toBe(20 * 60_000);
});

test('findNsqdHttp finds the HTTP address of the nsqd registered with nsqlookupd', async () => {
  await waitFor(async () => (await findNsqdHttp([nsq.lookupdHttp])) === nsq.nsqdHttp, 'nsqd to be found through nsqlookupd', { seconds: 10, everyMs: 100 });
});

test('an address from nsqlookupd that is not host:port is refused, not fetched', async () => {
  const producers = async () => ((await (await fetch(`http://${hostile.lookupdHttp}/nodes`)).json()) as { producers: unknown[] }).producers.length;
  await waitFor(async () => (await producers()) > 0, 'the nsqd to register with nsqlookupd', { seconds: 10, everyMs: 100 });
  const failure = await failureOf(findNsqdHttp([hostile.lookupdHttp]));
  expect(failure.name).toBe('ZodError');
  expect(String(failure.message)).toContain('broadcast_address');
});
