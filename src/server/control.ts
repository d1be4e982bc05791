/**
 * Re-run, cancel and approve (admin only, see access.ts):
 *
 *   POST /api/builds/:id/rerun    Authorization: Bearer ADMIN_TOKEN; optional JSON {"by": "alice"}
 *   POST /api/builds/:id/cancel   the same; each answers 202 once nsqd took the message
 *   POST /api/builds/:id/approve  (a fork's waiting build, see approval.ts)
 *   POST /builds/:id/rerun        the build page's buttons: the admin's session cookie, the
 *   POST /builds/:id/cancel       form's `csrf` field, and an Origin of this server
 *   POST /builds/:id/approve
 *
 * Without an admin token every one of them answers 403 and the page shows no button.
 *
 * A re-run is the push again, on the push topic: the same repository, clone URL, ref and
 * commit, with `jobs: [the build's job]` (workers of other jobs acknowledge it and build
 * nothing) and `rerun` (built again even when it succeeded; never superseding nor
 * superseded; requested when the original was, so branch pointers treat it like the
 * original). Its build is a new one, on the list when its worker takes it. Only a finished
 * build is re-run: a running one would build twice. A pull request's build is re-run as its
 * pull request's request (the head, the base its build file is read at, its number), and a
 * fork's stays a fork's (no secrets, no network, default limits); a re-run is the admin's
 * approval of a fork's build (workers with --fork-approval build it).
 *
 * A cancel goes to the workers on the control topic (control-message.ts): the one running
 * the build stops it ("cancelled by admin"), and its status arrives as events do. Only a
 * build not yet finished is cancelled; one waiting for approval (no worker holds it) is
 * cancelled here at once.
 */
import { randomUUID } from 'node:crypto';

import { Hono } from 'hono';
import type { Context } from 'hono';
import { html } from 'hono/html';
import { z } from 'zod';

import { isFinishedOnServer } from '../ci/build-status';
import { CONTROL_TOPIC, type ControlMessage, controlMessageSchema, MAX_API_REQUESTER, requesterSchema } from '../ci/control-message';
import { type BuildMessage, buildRequestSchema, PUSH_TOPIC, ZERO_SHA } from '../ci/push-event';
import { type Access, adminCsrf, formGuard } from './access';
import { approve } from './approval';
import { buildId } from './api';
import { page } from './pages';
import type { ServerBuild, ServerStore } from './server-store';

/** The workers' default push topic (`ci worker --topic`). */

export interface ControlOptions {
  store: ServerStore;
  access: Access;
  /** Publishes one message to an NSQ topic (nsq-api.ts publishMessage on an nsqd the server knows). */
  publish: (topic: string, body: string) => Promise<void>;
  /** Where re-runs go. Default: lxcts.pushes. */
  pushTopic?: string;
  /** Where cancels go. Default: lxcts.control. */
  controlTopic?: string;
}

export type ControlAction = 'rerun' | 'cancel' | 'approve';

/** What an action did, or why it did nothing (an HTTP status and a sentence). */
export type ControlOutcome =
  { ok: true; status: 202; message: string; build: ServerBuild; delivery?: string } | { ok: false; status: 404 | 409 | 503; message: string };

const unfinished = (b: ServerBuild) => !isFinishedOnServer(b.status);

/** The push that builds `build`'s job again, or why there is none. */
export function rerunRequest(build: ServerBuild, by: string, now = Date.now()): BuildMessage | string {
  if (build.ref === null) return `build ${build.id} names no ref to build again`;
  const request: BuildMessage = {
    kind: build.ref.startsWith('refs/pull/') ? 'pull_request' : 'push',
    delivery: `rerun-${build.id}-${randomUUID()}`,
    repo: build.repo,
    cloneUrl: build.cloneUrl,
    ref: build.ref,
    before: ZERO_SHA,
    after: build.commit,
    pusher: by,
    receivedAt: now,
    forced: false,
    jobs: [build.job],
    rerun: { of: build.id, requestedAt: Date.parse(build.createdAt) || 0 },
    ...pullRequestOf(build, by, now),
  };
  // What a worker checks, checked here first: the row came from a worker's event, still hostile.
  const checked = buildRequestSchema.safeParse(request);
  return checked.success ? request : `build ${build.id} cannot be built again: ${checked.error.issues[0]?.message ?? 'invalid'}`;
}

/**
 * A pull request's build asked for again as its pull request's request: the head (the build's
 * commit may be GitHub's merge of it), the base commit whose build file decides, its number.
 * A fork stays a fork: the row's word, or a head repository other than the base, or none.
 * Nothing for a push's build; without its pull request (a build told by an older worker) the
 * request names none and is refused.
 */
function pullRequestOf(build: ServerBuild, by: string, now: number): Partial<BuildMessage> {
  const { pull, head } = build;
  if (!build.ref?.startsWith('refs/pull/') || pull === null || head === null) return {};
  const fork = pull.fork || pull.headRepo === null || pull.headRepo.toLowerCase() !== build.repo.toLowerCase();
  return {
    ref: `refs/pull/${pull.number}/head`,
    before: pull.baseSha,
    after: head,
    pull: { number: pull.number, action: 'synchronize', baseRef: pull.baseRef, baseSha: pull.baseSha, headRepo: pull.headRepo, fork, mergeable: null },
    // Asked for by the admin: approved (workers with --fork-approval build it), and still a fork's.
    ...(fork ? { approval: { by, at: now } } : {}),
  };
}

/** Re-runs, cancels or approves build `id` on behalf of `by`. */
export async function control(o: ControlOptions, action: ControlAction, id: number, by: string): Promise<ControlOutcome> {
  const build = o.store.get(id);
  if (!build) return { ok: false, status: 404, message: `no build ${id}` };
  try {
    if (action === 'approve') return await approve(o, build, by);
    if (action === 'cancel' && build.status === 'waiting') {
      // No worker holds it: cancelled here, as its page and GitHub will show.
      if (!o.store.cancelWaiting(build.key, `cancelled by ${by}`)) return { ok: false, status: 409, message: `build ${id} no longer waits` };
      return { ok: true, status: 202, build, message: `build ${id} cancelled: it was waiting for approval` };
    }
    if (action === 'cancel') {
      if (!unfinished(build)) return { ok: false, status: 409, message: `build ${id} already finished (${build.status}): nothing to cancel` };
      const message: ControlMessage = { type: 'cancel', key: build.key, repo: build.repo, commit: build.commit, job: build.job, by, at: Date.now() };
      // What a worker checks, checked here first: one that fails is dropped by every worker, and "sent" would be a lie.
      const checked = controlMessageSchema.safeParse(message);
      if (!checked.success) return { ok: false, status: 409, message: `build ${id} cannot be cancelled: ${checked.error.issues[0]?.message ?? 'invalid'}` };
      await o.publish(o.controlTopic ?? CONTROL_TOPIC, JSON.stringify(message));
      return { ok: true, status: 202, build, message: `cancel of build ${id} sent to the workers: it ends cancelled when its worker stops it` };
    }
    if (unfinished(build)) return { ok: false, status: 409, message: `build ${id} is still ${build.status}: cancel it first, or wait for it to end` };
    const request = rerunRequest(build, by);
    if (typeof request === 'string') return { ok: false, status: 409, message: request };
    await o.publish(o.pushTopic ?? PUSH_TOPIC, JSON.stringify(request));
    return {
      ok: true,
      status: 202,
      build,
      delivery: request.delivery,
      message: `re-run of build ${id} (${build.repo} ${build.commit.slice(0, 12)} job ${build.job}) queued: a new build appears when a worker takes it`,
    };
  } catch (err) {
    return { ok: false, status: 503, message: `could not reach nsqd: ${(err as Error).message}` };
  }
}

const NO_ADMIN = 'this server has no admin token: start it with --admin-token-file to allow re-run and cancel';

/** The messages say "admin (BY)": `by` is shorter than a requester by that much. */
const apiBody = z.object({ by: requesterSchema.max(MAX_API_REQUESTER).optional() }).strict();

/** The API's and the build page's routes for re-run and cancel. */
export function controlApp(o: ControlOptions): Hono {
  const app = new Hono();
  const { access } = o;

  for (const action of ['rerun', 'cancel', 'approve'] as const) {
    app.post(`/api/builds/:id/${action}`, async (c) => {
      if (!access.controls) return c.json({ error: NO_ADMIN }, 403);
      if (access.roleOfBearer(c) !== 'admin') {
        c.header('WWW-Authenticate', 'Bearer realm="lxcts admin"');
        return c.json({ error: 'needs the admin token: Authorization: Bearer TOKEN' }, 401);
      }
      const id = buildId.safeParse(c.req.param('id'));
      if (!id.success) return c.json({ error: 'bad build id' }, 400);
      const text = await c.req.text();
      let body: unknown = {};
      try {
        if (text.trim() !== '') body = JSON.parse(text);
      } catch {
        return c.json({ error: 'the body is not JSON' }, 400);
      }
      const parsed = apiBody.safeParse(body);
      if (!parsed.success) return c.json({ error: `bad body: ${parsed.error.issues[0]?.message ?? 'invalid'}` }, 400);
      const by = parsed.data.by ? `admin (${parsed.data.by})` : 'admin';
      const outcome = await control(o, action, id.data, by);
      if (!outcome.ok) return c.json({ error: outcome.message }, outcome.status);
      return c.json({ action, build: outcome.build.id, message: outcome.message, ...(outcome.delivery ? { delivery: outcome.delivery } : {}) }, 202);
    });

    app.post(`/builds/:id/${action}`, formGuard, async (c) => {
      if (!access.controls) return refused(c, 403, NO_ADMIN);
      const session = access.sessionOf(c);
      if (session?.role !== 'admin') return refused(c, 403, 'log in with the admin token first');
      const form = await c.req.parseBody();
      if (!access.csrfMatches(session, form.csrf)) return refused(c, 403, 'bad or missing CSRF token: reload the page and try again');
      const id = buildId.safeParse(c.req.param('id'));
      if (!id.success) return refused(c, 400, 'bad build id');
      const outcome = await control(o, action, id.data, 'admin');
      if (!outcome.ok) return refused(c, outcome.status, outcome.message);
      const b = outcome.build;
      // After a re-run, the list where its build will appear; after a cancel, the build turning cancelled.
      // After an approval, the build itself: it turns queued, then running.
      return c.redirect(action === 'rerun' ? `/?${new URLSearchParams({ repo: b.repo, job: b.job }).toString()}` : `/builds/${b.id}`, 303);
    });
  }

  return app;
}

function refused(c: Context, status: 400 | 403 | 404 | 409 | 503, message: string) {
  return c.html(
    page(
      'Refused',
      html`<h1>Refused</h1>
        <p>${message}</p>
        <p><a href="/">builds</a></p>`,
    ),
    status,
  );
}

/** The build page's part: the buttons for an admin, a way to log in for others, nothing without an admin token. */
export function buildActions(access: Access, c: Context, build: ServerBuild) {
  if (!access.controls) return '';
  const token = adminCsrf(access, c);
  if (token === undefined) {
    return html`<p>
      <a href="/login?next=${encodeURIComponent(`/builds/${build.id}`)}">Log in</a> to ${build.status === 'waiting' ? 'approve, ' : ''}re-run or cancel.
    </p>`;
  }
  const actions: ControlAction[] = build.status === 'waiting' ? ['approve', 'cancel'] : unfinished(build) ? ['cancel'] : ['rerun'];
  const label = { approve: 'Approve', cancel: 'Cancel', rerun: 'Re-run' } as const;
  return html`${actions.map(
      (action) =>
        html`<form method="post" action="/builds/${build.id}/${action}" class="control">
          <input type="hidden" name="csrf" value="${token}" />
          <button>${label[action]}</button>
        </form>`,
    )}
    <form method="post" action="/logout" class="control">
      <input type="hidden" name="csrf" value="${token}" />
      <button>Log out</button>
    </form>`;
}
