/**
 * The dashboard's pages, rendered on the server (readable without JavaScript; a few lines
 * of script make the log live):
 *
 *   GET /                                   builds, newest first: ?repo ?branch ?status ?job, paged (?before)
 *   GET /builds/:id                         a build: steps, artifacts with their SHA-256, a page of its log (?offset)
 *   GET /builds/:id/events                  server-sent events while it runs: `log` (new bytes as HTML from
 *                                           ?from), `status`, then `end`
 *   GET /badge/<owner>/<repo>/<branch>.svg  the branch's status badge
 *
 * Everything shown came from a push or a build: hono/html's `html` escapes every value put
 * into a page, and the log goes through ansi.ts, which escapes its text.
 */
import { Hono } from 'hono';
import type { Context } from 'hono';
import { html, raw } from 'hono/html';
import type { HtmlEscapedString } from 'hono/utils/html';
import { streamSSE } from 'hono/streaming';
import { z } from 'zod';

import { isFinishedOnServer, SERVER_STATUSES } from '../ci/build-status';
import { refLabel } from '../ci/commit-info';
import { branchProblem, fullNameProblem } from '../ci/names';
import { pullNumberOfRef } from '../ci/pull-request';
import { ANSI_CSS } from './ansi';
import { buildId, listQuery } from './api';
import { badgeState, renderBadge } from './badge';
import { artifactUrl, binariesDirOf, docsUrl } from './files';
import { LOG_TIME_CSS, LogRenderer } from './log-html';
import type { LiveStore } from './live-store';
import { rawPathOf } from './request-path';
import { openInside } from './safe-open';
import type { ServerBuild, ServerStep } from './server-store';

/** Bytes of log on one page, and in one live event. */
export const LOG_PAGE = 64 * 1024;
/** A live stream with nothing to say sends a comment this often (proxies drop silent connections). */
const HEARTBEAT_MS = 15_000;
/**
 * How long a live stream waits, once the build has finished, for log chunks still missing
 * (NSQ delivers out of order; a worker retries a chunk for under a second) before it ends
 * anyway: a chunk the worker gave up on never comes, and the page must not stay live forever.
 */
export const LATE_CHUNKS_MS = 3_000;
/** The most of a SHA256SUMS file read for a page. */
const MAX_SUMS_BYTES = 1024 * 1024;

export interface PagesOptions {
  store: LiveStore;
  /** The data directory's binaries/ (for SHA256SUMS). */
  binariesRoot: string;
  /** Aborted when the server stops: live streams end. */
  stopping?: AbortSignal;
  /** The build page's buttons (control.ts: re-run, cancel), under its details. */
  buildActions?: (c: Context, build: ServerBuild) => ReturnType<typeof html> | string;
}

type Html = HtmlEscapedString;

const STYLE = `
body{font:14px/1.4 system-ui,sans-serif;margin:0 auto;max-width:80rem;padding:0 1rem;color:#222}
a{color:#35c}h1{font-size:1.3rem}table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:.25rem .5rem;border-bottom:1px solid #ddd;vertical-align:top}
code,pre{font-family:ui-monospace,monospace;font-size:13px}
pre.log{background:#fafafa;border:1px solid #ddd;padding:.5rem;white-space:pre-wrap;word-break:break-all}
.s-success{color:#282}.s-failure,.s-error{color:#c33}.s-running,.s-queued,.s-waiting{color:#a70}.s-cancelled{color:#888}
form.filters{display:flex;gap:.5rem;flex-wrap:wrap;margin:.5rem 0}nav.pages{margin:.5rem 0;display:flex;gap:1rem}
.who{color:#666}dl{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem}dt{color:#666}dd{margin:0}
${ANSI_CSS}${LOG_TIME_CSS}`;

export function page(title: string, body: Html | Promise<Html>): Html {
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>${title} · lxcts CI</title>
        <link rel="icon" href="data:," />
        <style>
          ${raw(STYLE)}
        </style>
      </head>
      <body>
        <p><a href="/">lxcts CI</a></p>
        ${body}
      </body>
    </html>` as Html;
}

/** A status word with its colour. */
export const status = (s: string) => html`<span class="s-${s}">${s}</span>`;

/** "1m 05s" from ISO times (to now while unfinished); '' when it never started. */
export function duration(startedAt: string | null, finishedAt: string | null, now = Date.now()): string {
  if (!startedAt) return '';
  const ms = (finishedAt ? Date.parse(finishedAt) : now) - Date.parse(startedAt);
  if (!Number.isFinite(ms) || ms < 0) return '';
  const s = Math.round(ms / 1000);
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
}

/** The query string of `params` without empty values. */
function query(params: Record<string, string | number | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, String(v));
  const text = q.toString();
  return text ? `?${text}` : '';
}

const finished = (build: ServerBuild) => isFinishedOnServer(build.status);

function buildRow(b: ServerBuild): Html {
  const list = (params: Record<string, string>) => `/${query(params)}`;
  return html`<tr>
    <td><a href="/builds/${b.id}">#${b.id}</a></td>
    <td>${status(b.status)}</td>
    <td><a href="${list({ repo: b.repo })}">${b.repo}</a> <a href="${repoUrl(b.repo)}" title="binaries and docs of its branches">files</a></td>
    <td>${refCell(b, list({ repo: b.repo, branch: b.branch ?? '' }))}</td>
    <td>${commitCell(b)}</td>
    <td><a href="${list({ job: b.job })}">${b.job}</a></td>
    <td>${duration(b.startedAt, b.finishedAt)}</td>
    <td>${b.worker}</td>
    <td><time datetime="${b.createdAt}">${b.createdAt.replace('T', ' ').slice(0, 19)}</time></td>
  </tr>` as Html;
}

/** The repository's page (repo-pages.ts): owner and name are URL-safe by names.ts's rules, encoded all the same. */
const repoUrl = (repo: string) => `/repos/${repo.split('/').map(encodeURIComponent).join('/')}`;

/** Which ref triggered the build: "branch main" (the branch a link to its builds), "tag v1.0", "pull request 12". */
function refCell(b: ServerBuild, branchBuilds: string): Html {
  if (b.branch) return html`branch <a href="${branchBuilds}">${b.branch}</a>` as Html;
  return html`<span title="${b.ref ?? ''}">${refLabel(b.ref)}</span>` as Html;
}

/** The commit's short id, subject and author (both attacker-written: escaped like everything). */
function commitCell(b: ServerBuild): Html {
  return html`<code title="${b.commit}">${b.commit.slice(0, 12)}</code>${b.subject ? html` ${b.subject}` : ''}${
      b.author ? html` <span class="who">${b.author}</span>` : ''
    }` as Html;
}

function problems(c: Context, error: z.ZodError): Response | Promise<Response> {
  const list = error.issues.map((i) => html`<li><code>${i.path.join('.')}</code>: ${i.message}</li>`);
  return c.html(
    page(
      'Bad request',
      html`<h1>Bad request</h1>
        <ul>
          ${list}
        </ul>`,
    ),
    400,
  );
}

/** SHA256SUMS of a commit's binaries on this server (a pull request's: under it): name → sum (empty when there is none). */
function checksums(binariesRoot: string, build: ServerBuild): Promise<Map<string, string>> {
  return readChecksums(binariesRoot, binariesDirOf(build));
}

/** The SHA256SUMS file in `dir` (components below binaries/, opened with openInside): name → sum. */
export async function readChecksums(binariesRoot: string, dir: string[]): Promise<Map<string, string>> {
  const sums = new Map<string, string>();
  const opened = await openInside(binariesRoot, [...dir, 'SHA256SUMS']);
  if (!opened) return sums;
  try {
    if (!opened.stat.isFile()) return sums;
    const buffer = Buffer.alloc(Math.min(opened.stat.size, MAX_SUMS_BYTES));
    const { bytesRead } = await opened.handle.read(buffer, 0, buffer.length, 0);
    for (const line of buffer.subarray(0, bytesRead).toString('utf8').split('\n')) {
      // Names with a newline or backslash are escaped (a leading '\'): shown as written.
      const match = /^\\?([0-9a-f]{64}) {2}(.+)$/.exec(line);
      if (match) sums.set(match[2] as string, match[1] as string);
    }
  } finally {
    await opened.handle.close();
  }
  return sums;
}

function stepsTable(steps: ServerStep[]): Html {
  if (steps.length === 0) return html`<p>No steps ran.</p>` as Html;
  const rows = steps.map(
    (s) =>
      html`<tr>
        <td>${s.step}</td>
        <td><code>${s.command}</code></td>
        <td>${s.startedAt === null ? '' : new Date(s.startedAt).toISOString().slice(11, 19)}</td>
        <td>${s.seconds === null ? (s.startedAt !== null ? 'running' : '') : `${s.seconds.toFixed(1)}s`}</td>
        <td>${s.exitCode === null ? '' : html`<span class="${s.exitCode === 0 ? 's-success' : 's-failure'}">${s.exitCode}</span>`}</td>
      </tr>`,
  );
  return html`<table>
    <tr>
      <th>#</th>
      <th>command</th>
      <th>started (UTC)</th>
      <th>took</th>
      <th>exit</th>
    </tr>
    ${rows}
  </table>` as Html;
}

/** For a pull request's build, the line that says whose artifacts these are (no branch's, and they expire); '' for a push's. */
function pullArtifactsNote(build: ServerBuild): Html | '' {
  const pull = pullNumberOfRef(build.ref);
  if (pull === null) return '';
  const where = artifactUrl(build);
  return html`<p class="pull-artifacts">
    These are pull request #${pull}'s artifacts, not a branch's: kept under the pull request (<a href="${where}">${where}</a>), never where a branch's or this
    commit's are, and removed by the retention (<code>ci gc</code>) once older than its days.
  </p>` as Html;
}

function artifactsList(build: ServerBuild, sums: Map<string, string>): Html | null {
  if (build.status !== 'success') return null;
  const whose = pullArtifactsNote(build);
  if (sums.size === 0) {
    if (build.artifacts.length === 0) return null;
    return html`<h2>Artifacts</h2>
      ${whose}
      <p>Not on this server (the worker keeps them: start it with <code>--server</code> to upload them).</p>
      <ul>
        ${build.artifacts.map((a) => html`<li><code>${a}</code></li>`)}
      </ul>` as Html;
  }
  const rows = [...sums].map(
    ([name, sum]) =>
      html`<tr>
        <td><a href="${artifactUrl(build, name)}">${name}</a></td>
        <td><code>${sum}</code></td>
      </tr>`,
  );
  return html`<h2>Artifacts</h2>
    ${whose}
    <table>
      <tr>
        <th>file</th>
        <th>SHA-256</th>
      </tr>
      ${rows}
    </table>
    <p><a href="${artifactUrl(build, 'SHA256SUMS')}">SHA256SUMS</a></p>` as Html;
}

/** A renderer of build `build`'s log from `offset`, its lines stamped with their times (log-html.ts). */
function logRenderer(store: LiveStore, build: ServerBuild, offset: number): LogRenderer {
  const atLineStart = offset === 0 || store.readLog(build.key, offset - 1, 1).data[0] === 0x0a;
  return new LogRenderer(startedAtOf(build), atLineStart);
}

/** When the build started (ms since the epoch), or null. */
function startedAtOf(build: ServerBuild): number | null {
  const startedAt = build.startedAt === null ? NaN : Date.parse(build.startedAt);
  return Number.isFinite(startedAt) ? startedAt : null;
}

/**
 * The script of the builds list: two seconds after each round while the tab is shown, the
 * same URL is fetched again and its list (#builds) put in place of this one: new builds,
 * statuses and durations appear without a reload. Without JavaScript the list is as it was
 * rendered.
 */
const LIST_SCRIPT = `
const refresh = async () => {
  try {
    if (!document.hidden) {
      const response = await fetch(location.href);
      const fresh = response.ok && new DOMParser().parseFromString(await response.text(), 'text/html').getElementById('builds');
      const shown = document.getElementById('builds');
      if (fresh && shown && fresh.outerHTML !== shown.outerHTML) shown.replaceWith(fresh);
    }
  } catch {
    // The server is away for a moment: the next round tries again.
  }
  setTimeout(refresh, 2000);
};
setTimeout(refresh, 2000);
`;

/** The script of a live build page: appends what the events say, and shows the final page at the end. */
const LIVE_SCRIPT = `
const log = document.getElementById('log');
const state = document.getElementById('status');
const source = new EventSource(log.dataset.events);
source.addEventListener('log', (e) => {
  const follow = window.innerHeight + window.scrollY >= document.body.scrollHeight - 40;
  log.insertAdjacentHTML('beforeend', JSON.parse(e.data).html);
  if (follow) window.scrollTo(0, document.body.scrollHeight);
});
source.addEventListener('status', (e) => {
  const s = JSON.parse(e.data).status;
  state.textContent = s;
  state.className = 's-' + s;
});
source.addEventListener('end', () => { source.close(); location.reload(); });
`;

export function pagesApp(o: PagesOptions): Hono {
  const { store } = o;
  const app = new Hono();

  app.get('/', (c) => {
    // The filter form sends its empty fields too: an empty field is no filter.
    const q = listQuery.safeParse(Object.fromEntries(Object.entries(c.req.query()).filter(([, v]) => v !== '')));
    if (!q.success) return problems(c, q.error);
    const filters = q.data;
    const rows = store.list({ ...filters, limit: filters.limit + 1 });
    const shown = rows.slice(0, filters.limit);
    const last = shown.at(-1);
    const more = rows.length > filters.limit && last;
    const keep = {
      repo: filters.repo,
      branch: filters.branch,
      status: filters.status,
      job: filters.job,
      limit: c.req.query('limit') ? filters.limit : undefined,
    };
    const statuses = ['', ...SERVER_STATUSES];
    const body = html`<h1>Builds</h1>
      <p><a href="/queue">Workers and queue</a></p>
      <form class="filters" method="get" action="/">
        <input name="repo" placeholder="owner/repo" value="${filters.repo ?? ''}" />
        <input name="branch" placeholder="branch" value="${filters.branch ?? ''}" />
        <input name="job" placeholder="job" value="${filters.job ?? ''}" />
        <select name="status">
          ${statuses.map((s) => html`<option value="${s}" ${s === (filters.status ?? '') ? 'selected' : ''}>${s || 'any status'}</option>`)}
        </select>
        <button>Filter</button>
        <a href="/">clear</a>
      </form>
      ${
        shown.length === 0
          ? html`<p id="builds">No builds${Object.values(keep).some((v) => v) ? ' match' : ' yet'}.</p>`
          : html`<table id="builds">
              <tr>
                <th>build</th>
                <th>status</th>
                <th>repository</th>
                <th>branch</th>
                <th>commit</th>
                <th>job</th>
                <th>took</th>
                <th>worker</th>
                <th>queued (UTC)</th>
              </tr>
              ${shown.map(buildRow)}
            </table>`
      }
      <nav class="pages">
        ${filters.before ? html`<a href="/${query(keep)}">newest</a>` : ''}
        ${more ? html`<a rel="next" href="/${query({ ...keep, before: last.id })}">older →</a>` : ''}
      </nav>
      <script>
        ${raw(LIST_SCRIPT)};
      </script>`;
    return c.html(page('Builds', body as Html));
  });

  app.get('/builds/:id', async (c) => {
    const p = buildId.safeParse(c.req.param('id'));
    if (!p.success) return problems(c, p.error);
    const offsetQuery = z.object({ offset: z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional() }).strict();
    const q = offsetQuery.safeParse(c.req.query());
    if (!q.success) return problems(c, q.error);
    const build = store.get(p.data);
    if (!build) return c.html(page('Not found', html`<h1>No build ${p.data}</h1>`), 404);
    const { available } = store.readLog(build.key, 0, 0);
    // The end of the log unless a page was asked for: where a running build's output appears.
    const offset = Math.min(q.data.offset ?? Math.max(0, available - LOG_PAGE), available);
    const logPage = store.readLog(build.key, offset, LOG_PAGE);
    const atEnd = logPage.next >= logPage.available;
    // Live only while it runs: a finished build whose log has a gap (chunks lost) is shown as it is.
    const live = atEnd && !finished(build);
    const missing = finished(build) && build.log !== null && !logPage.complete ? Math.max(0, build.log.bytes - logPage.available) : 0;
    const sums = await checksums(o.binariesRoot, build);
    const here = (at: number) => `/builds/${build.id}${query({ offset: at })}`;
    const docs = docsUrl(build);
    const body = html`<h1>
        Build #${build.id}: <a href="${repoUrl(build.repo)}">${build.repo}</a> <span id="status" class="s-${build.status}">${build.status}</span>
      </h1>
      <dl>
        <dt>job</dt>
        <dd>${build.job}</dd>
        ${
          build.branch
            ? html`<dt>branch</dt>
                <dd>${build.branch}</dd>`
            : ''
        }
        <dt>triggered by</dt>
        <dd>${refLabel(build.ref)}${build.ref ? html` (<code>${build.ref}</code>)` : ''}${build.pusher ? html`, pushed by ${build.pusher}` : ''}</dd>
        <dt>commit</dt>
        <dd><code>${build.commit}</code>${build.subject ? html` ${build.subject}` : ''}</dd>
        ${
          build.head && build.head !== build.commit
            ? html`<dt>pull request head</dt>
                <dd><code>${build.head}</code> (GitHub's merge of it was built; its statuses are on the head)</dd>`
            : ''
        }
        ${
          build.author
            ? html`<dt>author</dt>
                <dd>${build.author}</dd>`
            : ''
        }
        <dt>worker</dt>
        <dd>${build.worker} (its build ${build.workerBuildId})</dd>
        <dt>queued</dt>
        <dd>${build.createdAt}</dd>
        <dt>took</dt>
        <dd>${duration(build.startedAt, build.finishedAt)}</dd>
        ${
          build.exitCode === null
            ? ''
            : html`<dt>exit code</dt>
                <dd>${build.exitCode}</dd>`
        }
        ${
          build.message
            ? html`<dt>message</dt>
                <dd>${build.message}</dd>`
            : ''
        }
        ${
          docs
            ? html`<dt>docs</dt>
                <dd><a href="${docs}">${docs}</a></dd>`
            : ''
        }
      </dl>
      ${o.buildActions?.(c, build) ?? ''}
      <h2>Steps</h2>
      ${stepsTable(store.steps(build.key))} ${artifactsList(build, sums)}
      <h2>Log</h2>
      ${
        available === 0 && build.log === null && finished(build)
          ? html`<p>
              This server has no log of this build: its worker keeps it (<code>lxcts ci logs ${build.workerBuildId}</code> on ${build.worker}); start workers
              with <code>--live-logs</code> to send it here.
            </p>`
          : ''
      }
      ${
        missing > 0
          ? html`<p>
              ${missing} bytes of this log did not reach the server (or have not yet): its worker keeps the whole log (<code
                >lxcts ci logs ${build.workerBuildId}</code
              >
              on ${build.worker}).
            </p>`
          : ''
      }
      <nav class="pages">
        ${offset > 0 ? html`<a href="${here(0)}">start</a> <a href="${here(Math.max(0, offset - LOG_PAGE))}">← earlier</a>` : ''}
        <span>bytes ${offset}–${logPage.next} of ${logPage.available}${logPage.complete ? '' : ' so far'}</span>
        ${atEnd ? '' : html`<a href="${here(logPage.next)}">later →</a> <a href="${here(Math.max(0, available - LOG_PAGE))}">end</a>`}
        <a href="/api/builds/${build.id}/log${query({ offset, limit: LOG_PAGE })}">raw</a>
      </nav>
      <pre class="log" id="log" data-events="/builds/${build.id}/events${query({ from: logPage.next })}">
${raw(logRenderer(store, build, offset).push(logPage.data, offset, logPage.times))}</pre>
      ${
        live
          ? html`<script>
              ${raw(LIVE_SCRIPT)};
            </script>`
          : ''
      }`;
    return c.html(page(`Build #${build.id}`, body as Html));
  });

  app.get('/builds/:id/events', (c) => {
    const p = buildId.safeParse(c.req.param('id'));
    const q = z
      .object({ from: z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER).default(0) })
      .strict()
      .safeParse(c.req.query());
    if (!p.success) return c.json({ error: 'bad build id' }, 400);
    if (!q.success) return c.json({ error: 'bad ?from' }, 400);
    const first = store.get(p.data);
    if (!first) return c.json({ error: 'no such build' }, 404);
    const { key } = first;
    return streamSSE(
      c,
      async (stream) => {
        const ended = new AbortController();
        stream.onAbort(() => ended.abort());
        const stop = o.stopping ? AbortSignal.any([ended.signal, o.stopping]) : ended.signal;
        const renderer = logRenderer(store, first, q.data.from);
        let offset = q.data.from;
        let shownStatus = '';
        /** When this stream first saw the build finished with chunks still missing. */
        let finishedAt: number | null = null;
        while (!stop.aborted) {
          // Wait for the next change first, then read: a change during the read is not missed.
          const wait = finishedAt === null ? HEARTBEAT_MS : Math.max(0, finishedAt + LATE_CHUNKS_MS - Date.now());
          const shorter = new AbortController();
          const changed = store.nextChange(key, wait, AbortSignal.any([stop, shorter.signal]));
          const build = store.get(p.data);
          if (!build) return;
          // A stream opened while the build was queued counts from its start once it has one.
          renderer.startedAt ??= startedAtOf(build);
          for (let more = true; more && !stop.aborted;) {
            const piece = store.readLog(key, offset, LOG_PAGE);
            more = piece.data.length === LOG_PAGE;
            if (piece.data.length === 0) break;
            offset = piece.next;
            await stream.writeSSE({ event: 'log', data: JSON.stringify({ html: renderer.push(piece.data, piece.offset, piece.times), next: offset }) });
          }
          if (build.status !== shownStatus) {
            shownStatus = build.status;
            await stream.writeSSE({ event: 'status', data: JSON.stringify({ status: build.status }) });
          }
          const log = store.readLog(key, offset, 0);
          // Finished, and either every byte is here or the worker sends no log at all; or
          // chunks are still missing LATE_CHUNKS_MS after the end: they were lost.
          if (finished(build) && offset >= log.available) {
            // First seen finished: wait LATE_CHUNKS_MS from now, not a heartbeat.
            if (finishedAt === null) shorter.abort();
            finishedAt ??= Date.now();
            const whole = log.complete || build.log === null;
            if (whole || Date.now() - finishedAt >= LATE_CHUNKS_MS) {
              await stream.writeSSE({ event: 'end', data: JSON.stringify({ status: build.status, ...(whole ? {} : { incomplete: true }) }) });
              return;
            }
          }
          await changed;
          // A comment: keeps an idle connection open through proxies.
          if (!stop.aborted) await stream.write(': \n\n');
        }
        // A page that went away is no error: nothing to report.
      },
      async () => undefined,
    );
  });

  app.get('/badge/*', (c) => {
    const match = /^\/badge\/([^/]+)\/([^/]+)\/([^/]+)\.svg$/.exec(rawPathOf(c.req.url));
    let repo = '';
    let branch = '';
    try {
      if (match) {
        repo = `${decodeURIComponent(match[1] as string)}/${decodeURIComponent(match[2] as string)}`;
        branch = decodeURIComponent(match[3] as string);
      }
    } catch {
      repo = '';
    }
    if (!match || fullNameProblem(repo) !== null || branchProblem(branch) !== null) {
      return c.text('expected /badge/<owner>/<repo>/<branch>.svg (a branch with / as %2F)\n', 400);
    }
    const [newest] = store.list({ repo, branch, limit: 1 });
    const ofCommit = newest ? store.list({ repo, branch, limit: 50 }).filter((b) => b.commit === newest.commit) : [];
    const svg = renderBadge('build', badgeState(ofCommit.map((b) => b.status)));
    return c.body(svg, 200, { 'Content-Type': 'image/svg+xml; charset=utf-8', 'Cache-Control': 'no-cache', 'X-Content-Type-Options': 'nosniff' });
  });

  return app;
}
