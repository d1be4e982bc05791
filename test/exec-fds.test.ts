/**
 * Once `await exec()` returns, the command's descriptors (its pidfd, the helper's status
 * socket) are closed: an fd count taken right then equals the one before. They used to
 * close a loop turn later, in libuv's close callback, so a count taken as the last exec
 * resolved saw its two descriptors: the bench's fd count moved by 2 in some runs. The
 * helper's own copies close once it has sent the exit report, so they are waited for.
 */
import { Container } from '../src';
import { native } from '../src/lxc/native';
import { openFdCount, Sandbox } from './helpers/sandbox';
import { waitFor } from './helpers/wait';

const sandbox = new Sandbox('reads-fds');
let c: Container;

beforeAll(async () => {
  c = await sandbox.busybox(sandbox.name('reads'));
  await c.start();
});
afterAll(() => sandbox.cleanup());

const helperFds = () => {
  const helper = native().attachHelperPid();
  return helper === null ? 0 : openFdCount(helper);
};

test('the fd count right after execs resolve, 8 in flight, is the count before, every time', async () => {
  const batch = () => Promise.all(Array.from({ length: 8 }, () => c.exec(['/bin/true'])));
  await batch(); // the helper and the addon's own descriptors exist from here on
  const before = openFdCount();
  const helperBefore = helperFds();
  const after: number[] = [];
  for (let round = 0; round < 10; round++) {
    const results = await batch();
    after.push(openFdCount()); // no loop turn in between: what the caller sees as the calls return
    expect(results.map((r) => r.exitCode)).toEqual(Array(8).fill(0));
  }
  // Never more than before (a descriptor of this process that happened to be open at the first
  // count, e.g. a socket of Jest's, may have closed since: fewer is fine, more is a leak).
  expect(Math.max(...after)).toBeLessThanOrEqual(before);
  // The helper is another process: it closes its copies (the command's pidfd, its status
  // socket) once it has sent the exit report, which may be just after this process read it.
  // Its first count may still hold the first batch's copies, so it too may only go down.
  await waitFor(
    () => helperFds() <= helperBefore,
    () => `the helper's fds: ${helperFds()}, before ${helperBefore}`,
    { seconds: 5, everyMs: 20 },
  );
});
