/**
 * The JSON API's read routes (a Hono sub-app over the server store):
 *
 *   GET /healthz                   200 {"ok":true} while the store answers
 *   GET /api/builds                newest first; ?repo ?branch ?status ?job ?limit (1-100, 20) ?before (cursor)
 *   GET /api/builds/:id            one build with its steps and how much log the server has
 *   GET /api/builds/:id/log        ?offset (bytes, 0) ?limit (bytes, 1-1048576, 65536): raw bytes
 *   GET /api/builds/:id/log/times  the same page's times: {offset, next, times: [{offset, at}]}, each
 *                                  mark when the bytes from its offset to the next were written (log-html.ts)
 *
 * Every query parameter is checked (unknown ones too): a bad one is a 400 with the reason.
 * The log is served in pages, never whole: the answer's X-Log-Next-Offset is where the next
 * page starts, X-Log-Complete says whether the build ended with its whole log stored.
 */
import { Hono } from 'hono';
import type { Context } from 'hono';
import { z } from 'zod';

import { SERVER_STATUSES } from '../ci/build-status';
import { fullNameProblem } from '../ci/names';
import type { LogPage, ServerBuild, ServerStore } from './server-store';

export const MAX_PAGE = 100;
export const MAX_LOG_PAGE = 1024 * 1024;

export const buildId = z.coerce.number().int().min(1).max(Number.MAX_SAFE_INTEGER);

export const listQuery = z
  .object({
    repo: z
      .string()
      .max(200)
      .refine((r) => fullNameProblem(r) === null, 'not owner/name')
      .optional(),
    branch: z.string().min(1).max(1024).optional(),
    status: z.enum(SERVER_STATUSES).optional(),
    job: z.string().min(1).max(100).optional(),
    limit: z.coerce.number().int().min(1).max(MAX_PAGE).default(20),
    before: buildId.optional(),
  })
  .strict();

const logQuery = z
  .object({
    offset: z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER).default(0),
    limit: z.coerce
      .number()
      .int()
      .min(1)
      .max(MAX_LOG_PAGE)
      .default(64 * 1024),
  })
  .strict();

function badRequest(c: Context, error: z.ZodError) {
  return c.json({ error: 'bad request', issues: error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })) }, 400);
}

export function buildsApi(store: ServerStore): Hono {
  const app = new Hono();

  /** The build and the page of its log that a `/api/builds/:id/log...` request asks for, or the answer refusing it. */
  const logPageAsked = (c: Context): Response | { build: ServerBuild; page: LogPage } => {
    const p = buildId.safeParse(c.req.param('id'));
    if (!p.success) return badRequest(c, p.error);
    const q = logQuery.safeParse(c.req.query());
    if (!q.success) return badRequest(c, q.error);
    const build = store.get(p.data);
    if (!build) return c.json({ error: 'no such build' }, 404);
    return { build, page: store.readLog(build.key, q.data.offset, q.data.limit) };
  };

  app.get('/healthz', (c) => {
    store.list({ limit: 1 });
    return c.json({ ok: true });
  });

  app.get('/api/builds', (c) => {
    const q = listQuery.safeParse(c.req.query());
    if (!q.success) return badRequest(c, q.error);
    // One more than asked: whether there is a next page, without a count.
    const rows = store.list({ ...q.data, limit: q.data.limit + 1 });
    const page = rows.slice(0, q.data.limit);
    const last = page.at(-1);
    return c.json({ builds: page, next: rows.length > q.data.limit && last ? last.id : null });
  });

  app.get('/api/builds/:id', (c) => {
    const p = buildId.safeParse(c.req.param('id'));
    if (!p.success) return badRequest(c, p.error);
    const build = store.get(p.data);
    if (!build) return c.json({ error: 'no such build' }, 404);
    const log = store.readLog(build.key, 0, 0);
    return c.json({ ...build, steps: store.steps(build.key), logAvailable: log.available, logComplete: log.complete });
  });

  app.get('/api/builds/:id/log', (c) => {
    const found = logPageAsked(c);
    if (found instanceof Response) return found;
    const { page } = found;
    return c.body(new Uint8Array(page.data), 200, {
      'Content-Type': 'text/plain; charset=utf-8',
      // Build output is hostile: never let a browser sniff it into HTML.
      'X-Content-Type-Options': 'nosniff',
      'X-Log-Offset': String(page.offset),
      'X-Log-Next-Offset': String(page.next),
      'X-Log-Available': String(page.available),
      'X-Log-Complete': String(page.complete),
    });
  });

  // The log's times beside it, never in it: the raw log stays the build's bytes (log-html.ts says why).
  app.get('/api/builds/:id/log/times', (c) => {
    const found = logPageAsked(c);
    if (found instanceof Response) return found;
    const { build, page } = found;
    return c.json({ offset: page.offset, next: page.next, startedAt: build.startedAt, times: page.times });
  });

  return app;
}
