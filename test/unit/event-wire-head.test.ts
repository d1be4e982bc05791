/**
 * @tier unit
 * A pull request's head on the events topic (event-wire.ts): kept for a pull request's
 * build, refused for a push's (its statuses go to the commit built) and when it is not a
 * full commit id. The topic is as open as nsqd: nothing on it is taken on trust.
 */
import { buildEventWireSchema } from '../../src/server/event-wire';
import { at } from '../helpers/must';
import { buildEvents } from '../helpers/server-events';

const HEAD = 'd'.repeat(40);
const firstEvent = (options: Parameters<typeof buildEvents>[0]) => JSON.parse(at(buildEvents(options).events, 0)) as Record<string, unknown>;

test("a pull request build's head is kept; a push naming one, or a head that is no commit id, is refused", () => {
  const pull = firstEvent({ id: 1, commit: 'c'.repeat(40), pull: { number: 12, head: HEAD } });
  expect(buildEventWireSchema.parse(pull)).toMatchObject({ head: HEAD, build: { commit: 'c'.repeat(40), ref: 'refs/pull/12/merge' } });
  expect(buildEventWireSchema.parse(firstEvent({ id: 2 })).head).toBeUndefined();
  const push = buildEventWireSchema.safeParse({ ...firstEvent({ id: 3 }), head: HEAD });
  expect(push.success ? 'accepted' : push.error.issues.map((i) => i.message)).toEqual(['only a pull request build names a head']);
  for (const head of ['d'.repeat(39), `${'d'.repeat(40)}\n`, 'HEAD', 42]) expect(buildEventWireSchema.safeParse({ ...pull, head }).success).toBe(false);
});
