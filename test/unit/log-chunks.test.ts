/**
 * @tier unit
 * The workers' side of the log transport (src/ci/log-chunks.ts): chunks are numbered
 * without gaps, bounded in size, cut by the flush timer when output is slow, tagged with
 * the step, valid on the wire; output before a build is bound is not sent; a chunk nsqd
 * refuses is retried and then reported lost.
 */
import { CHUNK_FLUSH_MS, LogChunk, logChunkSchema, LogChunks } from '../../src/ci/log-chunks';

const KEY = '0b6c7c1e-8a4f-4d2e-9c1a-3f5e6d7c8b9a';

function collector(): { bodies: LogChunk[]; send: (body: string) => Promise<void> } {
  const bodies: LogChunk[] = [];
  return { bodies, send: (body) => Promise.resolve(void bodies.push(logChunkSchema.parse(JSON.parse(body)))) };
}

afterEach(() => jest.useRealTimers());

test('numbered from 0 without gaps, at most maxBytes each, offsets adding up', async () => {
  const { bodies, send } = collector();
  const chunks = new LogChunks({ send, maxBytes: 1000 });
  chunks.write('before the build: not sent\n');
  chunks.bind(KEY);
  const output = Buffer.alloc(12_345, 'x');
  for (let at = 0; at < output.length; at += 333) chunks.write(output.subarray(at, at + 333));
  const totals = await chunks.settle();
  await chunks.close();
  expect(totals).toEqual({ chunks: 13, bytes: 12_345 });
  expect(bodies.map((b) => b.seq)).toEqual([...Array(13).keys()]);
  expect(bodies.every((b) => Buffer.from(b.data, 'base64').length <= 1000)).toBe(true);
  expect(Buffer.concat(bodies.map((b) => Buffer.from(b.data, 'base64'))).equals(output)).toBe(true);
  let offset = 0;
  for (const b of bodies) {
    expect(b.offset).toBe(offset);
    offset += Buffer.from(b.data, 'base64').length;
  }
});

test('slow output goes out when the flush timer fires, not when a chunk is full', async () => {
  jest.useFakeTimers();
  const { bodies, send } = collector();
  const chunks = new LogChunks({ send });
  chunks.bind(KEY);
  chunks.write('one line\n');
  await Promise.resolve();
  expect(bodies).toHaveLength(0);
  jest.advanceTimersByTime(CHUNK_FLUSH_MS);
  await Promise.resolve();
  expect(bodies.map((b) => Buffer.from(b.data, 'base64').toString())).toEqual(['one line\n']);
  await chunks.close();
});

test('each chunk says its step; a new step starts a new chunk; a new build starts at 0', async () => {
  const { bodies, send } = collector();
  const chunks = new LogChunks({ send });
  chunks.bind(KEY);
  chunks.write('header\n');
  chunks.step(1);
  chunks.write('first\n');
  chunks.step(2);
  chunks.write('second\n');
  chunks.flush();
  const other = KEY.replace(/^0/, '1');
  chunks.bind(other);
  chunks.write('next build\n');
  await chunks.close();
  expect(bodies.map((b) => [b.build === KEY, b.seq, b.step, Buffer.from(b.data, 'base64').toString()])).toEqual([
    [true, 0, null, 'header\n'],
    [true, 1, 1, 'first\n'],
    [true, 2, 2, 'second\n'],
    [false, 0, null, 'next build\n'],
  ]);
});

test('a chunk nsqd refuses is retried, then reported lost', async () => {
  let calls = 0;
  const lost: Array<{ build: string; seq: number }> = [];
  const chunks = new LogChunks({
    send: () => {
      calls += 1;
      return Promise.reject(new Error('nsqd down'));
    },
    onLost: (_err, chunk) => lost.push(chunk),
    attempts: 2,
  });
  chunks.bind(KEY);
  chunks.write('x');
  await chunks.close();
  expect(calls).toBe(2);
  expect(lost).toEqual([{ build: KEY, seq: 0 }]);
});
