/**
 * @tier unit
 * The per-object call queue: one task at a time, in order, a failure stopping nothing.
 */
import { SerialQueue } from '../../src/lxc/serial-queue';

const tick = () => new Promise((r) => setImmediate(r));

test('tasks run one at a time, in the order they were queued', async () => {
  const q = new SerialQueue();
  const events: string[] = [];
  let running = 0;
  const task = (id: number) => async () => {
    running++;
    expect(running).toBe(1);
    events.push(`start ${id}`);
    await tick();
    events.push(`end ${id}`);
    running--;
    return id;
  };
  const results = await Promise.all([1, 2, 3].map((id) => q.run(task(id))));
  expect(results).toEqual([1, 2, 3]);
  expect(events).toEqual(['start 1', 'end 1', 'start 2', 'end 2', 'start 3', 'end 3']);
});

test('a failed task rejects its own caller only; the next one still runs', async () => {
  const q = new SerialQueue();
  const failed = q.run(async () => {
    throw new Error('boom');
  });
  const next = q.run(async () => 'ran');
  await expect(failed).rejects.toThrow('boom');
  await expect(next).resolves.toBe('ran');
});

test('drained waits for every task queued so far, failed ones included, and never rejects', async () => {
  const q = new SerialQueue();
  let done = 0;
  void q.run(async () => {
    await tick();
    done++;
  });
  q.run(async () => {
    done++;
    throw new Error('ignored by drained');
  }).catch(() => undefined);
  await q.drained();
  expect(done).toBe(2);
});
