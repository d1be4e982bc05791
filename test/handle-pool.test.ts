/** @tier unit */
import { HandlePool } from '../src/lxc/handle-pool';
import { at } from './helpers/must';

function pool(max: number) {
  const made: number[] = [];
  const closed: number[] = [];
  let n = 0;
  const p = new HandlePool(
    () => (made.push(++n), n),
    (h) => closed.push(h),
    max,
  );
  return { p, made, closed };
}

const gate = () => {
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  return { open, opened };
};

test('makes handles only up to max; later callers wait their turn in order and reuse them', async () => {
  const { p, made } = pool(2);
  const gates = [gate(), gate(), gate(), gate()];
  const order: string[] = [];
  const uses = gates.map((g, i) =>
    p.use(async (h) => {
      order.push(`${i}:${h}`);
      await g.opened;
    }),
  );
  await new Promise((r) => setImmediate(r));
  expect(made).toEqual([1, 2]);
  expect(order).toEqual(['0:1', '1:2']);
  at(gates, 1).open();
  await uses[1];
  await new Promise((r) => setImmediate(r));
  expect(order).toEqual(['0:1', '1:2', '2:2']);
  for (const g of gates) g.open();
  await Promise.all(uses);
  expect(order).toEqual(['0:1', '1:2', '2:2', '3:1']);
  expect(made).toEqual([1, 2]);
});

test('a failing use gives its handle back', async () => {
  const { p, made } = pool(1);
  await expect(
    p.use(async () => {
      throw new Error('boom');
    }),
  ).rejects.toThrow('boom');
  await expect(p.use(async (h) => h)).resolves.toBe(1);
  expect(made).toEqual([1]);
});

test('release closes idle handles at once and lent ones when they come back, then resolves', async () => {
  const { p, closed } = pool(3);
  const g = gate();
  await p.use(async () => undefined); // handle 1, now idle
  const busy = p.use(async () => g.opened); // takes 1 again
  const busy2 = p.use(async () => g.opened); // makes 2
  await new Promise((r) => setImmediate(r));
  let released = false;
  const release = p.release().then(() => (released = true));
  await new Promise((r) => setImmediate(r));
  expect(released).toBe(false);
  expect(closed).toEqual([]);
  g.open();
  await Promise.all([busy, busy2, release]);
  expect(released).toBe(true);
  expect(closed.sort()).toEqual([1, 2]);
});

test('release with waiters still queued resolves once every one of them is done', async () => {
  const { p, closed } = pool(1);
  const g = gate();
  const uses = [p.use(async () => g.opened), p.use(async () => g.opened), p.use(async () => g.opened)];
  const release = p.release();
  g.open();
  await Promise.all([...uses, release]);
  expect(closed).toEqual([1]);
});
