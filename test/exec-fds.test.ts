/**
 * Once `await exec()` returns, the command's descriptors (its pidfd, the helper's status
 * socket) are closed: an fd count taken right then equals the one before. They used to
 * close a loop turn later, in libuv's close callback, so a count taken as the last exec
 * resolved saw its two descriptors: the bench's fd count moved by 2 in some runs.
 */
import { Container } from '../src';
import { native } from '../src/lxc/native';
import { openFdCount, Sandbox } from './helpers/sandbox';

const sandbox = new Sandbox('reads-fds');
let c: Container;

beforeAll(async () => {
  c = await sandbox.busybox(sandbox.name('reads'));
  await c.start();
});
afterAll(() => sandbox.cleanup());

const fds = () => {
  const helper = native().attachHelperPid();
  return openFdCount() + (helper === null ? 0 : openFdCount(helper));
};

test('the fd count right after execs resolve, 8 in flight, is the count before, every time', async () => {
  const batch = () => Promise.all(Array.from({ length: 8 }, () => c.exec(['/bin/true'])));
  await batch(); // the helper and the addon's own descriptors exist from here on
  const before = fds();
  const after: number[] = [];
  for (let round = 0; round < 10; round++) {
    const results = await batch();
    after.push(fds()); // no loop turn in between: what the caller sees as the calls return
    expect(results.map((r) => r.exitCode)).toEqual(Array(8).fill(0));
  }
  expect(after).toEqual(Array(10).fill(before));
});
