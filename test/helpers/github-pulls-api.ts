/**
 * A stateful stand-in for the parts of GitHub's REST API the patch parser uses: one pull
 * request's commits and files, the base's .lxcts.yml and the head's tree, and the labels,
 * comments and statuses it writes, kept so that a second delivery sees the first one's
 * writes. Every request is recorded; `fail` makes the next requests to a route answer with
 * an error first (a 500, a 403 rate limit). Paths, query parameters and bodies follow
 * GitHub's REST documentation (docs.github.com/en/rest): `documentedProblems` checks them.
 */
import { Hono } from 'hono';

import { startServer, type TestServer } from './http-server';

export interface Recorded {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: Record<string, string>;
  body: unknown;
}

export interface PullFixture {
  owner: string;
  repo: string;
  number: number;
  baseSha: string;
  commits: Array<{ sha: string; message: string; author: { name: string; email: string }; parents?: number }>;
  files: Array<{ filename: string; status: string; additions: number; deletions: number }>;
  /** The base commit's .lxcts.yml (absent: 404). */
  buildFile?: string;
  /** Blob sizes in the head's tree. */
  sizes?: Record<string, number>;
}

export interface FakeGitHub {
  url: string;
  requests: Recorded[];
  pull: PullFixture;
  labels: string[];
  comments: Array<{ id: number; body: string; user: { login: string } }>;
  /** Per sha, newest first, as GitHub lists them. */
  statuses: Map<string, Array<{ state: string; context: string; description: string }>>;
  /** The next requests matching `METHOD /path` (RegExp) answer these first. */
  fail(route: RegExp, ...answers: Array<{ status: number; headers?: Record<string, string> }>): void;
  /** Requests that changed something (POST, PATCH, PUT, DELETE). */
  writes(): Recorded[];
  close(): Promise<void>;
}

const BOT = 'lxcts-bot';

export async function startFakeGitHub(pull: PullFixture): Promise<FakeGitHub> {
  const fake = {
    requests: [] as Recorded[],
    pull,
    labels: [] as string[],
    comments: [] as FakeGitHub['comments'],
    statuses: new Map<string, Array<{ state: string; context: string; description: string }>>(),
  };
  const failures: Array<{ route: RegExp; answers: Array<{ status: number; headers?: Record<string, string> }> }> = [];
  let nextComment = 1000;
  const app = new Hono();
  app.all('*', async (c) => {
    const url = new URL(c.req.url);
    const text = await c.req.text();
    const body: unknown = text ? JSON.parse(text) : undefined;
    const method = c.req.method;
    const path = url.pathname;
    fake.requests.push({ method, path, query: Object.fromEntries(url.searchParams), headers: Object.fromEntries(c.req.raw.headers), body });
    const key = `${method} ${path}`;
    const failure = failures.find((f) => f.route.test(key) && f.answers.length > 0)?.answers.shift();
    if (failure) return c.json({ message: 'scripted failure', documentation_url: 'https://docs.github.com/rest' }, failure.status as 500, failure.headers);

    const p = fake.pull;
    const repo = `/repos/${p.owner}/${p.repo}`;
    const page = <T>(items: T[]) => {
      const per = Number(url.searchParams.get('per_page') ?? 30);
      const n = Number(url.searchParams.get('page') ?? 1);
      return c.json(items.slice((n - 1) * per, n * per) as object);
    };
    const m = (re: string) => new RegExp(`^${re}$`).exec(key);
    let g: RegExpExecArray | null;
    if (m(`GET ${repo}/pulls/${p.number}/commits`)) {
      return page(
        p.commits.map((x) => ({
          sha: x.sha,
          commit: { message: x.message, author: { ...x.author, date: '2026-12-04T00:00:00Z' }, committer: { ...x.author, date: '2026-12-04T00:00:00Z' } },
          parents: Array.from({ length: x.parents ?? 1 }, (_, i) => ({ sha: String(i).repeat(40) })),
        })),
      );
    }
    if (m(`GET ${repo}/pulls/${p.number}/files`)) return page(p.files.map((f) => ({ ...f, changes: f.additions + f.deletions, sha: 'f'.repeat(40) })));
    if (m(`GET ${repo}/issues/${p.number}/labels`)) return page(fake.labels.map((name, id) => ({ id, name })));
    if (m(`POST ${repo}/issues/${p.number}/labels`)) {
      for (const l of (body as { labels: string[] }).labels) if (!fake.labels.some((h) => h.toLowerCase() === l.toLowerCase())) fake.labels.push(l);
      return c.json(fake.labels.map((name, id) => ({ id, name })));
    }
    if ((g = m(`DELETE ${repo}/issues/${p.number}/labels/([^/]+)`))) {
      const name = decodeURIComponent(g[1]!);
      const at = fake.labels.findIndex((l) => l.toLowerCase() === name.toLowerCase());
      if (at === -1) return c.json({ message: 'Label does not exist' }, 404);
      fake.labels.splice(at, 1);
      return c.json(fake.labels.map((n, id) => ({ id, name: n })));
    }
    if (m(`GET ${repo}/issues/${p.number}/comments`)) return page(fake.comments);
    if (m(`POST ${repo}/issues/${p.number}/comments`)) {
      const comment = { id: nextComment++, body: (body as { body: string }).body, user: { login: BOT } };
      fake.comments.push(comment);
      return c.json(comment, 201);
    }
    if ((g = m(`(PATCH|DELETE) ${repo}/issues/comments/(\\d+)`))) {
      const at = fake.comments.findIndex((x) => x.id === Number(g![2]));
      if (at === -1) return c.json({ message: 'Not Found' }, 404);
      if (method === 'DELETE') {
        fake.comments.splice(at, 1);
        return c.body(null, 204);
      }
      fake.comments[at]!.body = (body as { body: string }).body;
      return c.json(fake.comments[at]);
    }
    if ((g = m(`GET ${repo}/commits/([0-9a-f]{40})/statuses`))) return page(fake.statuses.get(g[1]!) ?? []);
    if ((g = m(`POST ${repo}/statuses/([0-9a-f]{40})`))) {
      const s = body as { state: string; context: string; description: string };
      fake.statuses.set(g[1]!, [{ state: s.state, context: s.context, description: s.description }, ...(fake.statuses.get(g[1]!) ?? [])]);
      return c.json({ id: 1, ...s }, 201);
    }
    if (m(`GET ${repo}/contents/\\.lxcts\\.yml`) && url.searchParams.get('ref') === p.baseSha && p.buildFile !== undefined) {
      return c.json({ type: 'file', encoding: 'base64', path: '.lxcts.yml', content: Buffer.from(p.buildFile).toString('base64') });
    }
    if ((g = m(`GET ${repo}/git/trees/([0-9a-f]{40})`)) && g[1] === p.commits.at(-1)?.sha) {
      return c.json({
        sha: g[1],
        truncated: false,
        tree: Object.entries(p.sizes ?? {}).map(([path, size]) => ({ path, mode: '100644', type: 'blob', sha: 'b'.repeat(40), size })),
      });
    }
    return c.json({ message: 'Not Found', documentation_url: 'https://docs.github.com/rest' }, 404);
  });
  const server: TestServer = await startServer(app);
  return Object.assign(fake, {
    url: server.url,
    fail: (route: RegExp, ...answers: Array<{ status: number; headers?: Record<string, string> }>) => failures.push({ route, answers }),
    writes: () => fake.requests.filter((r) => r.method !== 'GET'),
    close: () => server.close(),
  });
}

/**
 * What in a request GitHub's REST documentation would not accept: the endpoint, its
 * parameters and body fields, and the headers GitHub asks every client to send.
 */
export function documentedProblems(r: Recorded, token: string): string[] {
  const problems: string[] = [];
  const keys = (allowed: string[], required: string[]) => {
    const b = (r.body ?? {}) as Record<string, unknown>;
    for (const k of Object.keys(b)) if (!allowed.includes(k)) problems.push(`${r.method} ${r.path}: undocumented body field ${k}`);
    for (const k of required) if (!(k in b)) problems.push(`${r.method} ${r.path}: missing ${k}`);
  };
  if (r.headers.authorization !== `token ${token}`) problems.push(`${r.method} ${r.path}: authorization ${r.headers.authorization}`);
  if (r.headers.accept !== 'application/vnd.github+json') problems.push(`${r.method} ${r.path}: accept ${r.headers.accept}`);
  if (r.headers['x-github-api-version'] !== '2022-11-28') problems.push(`${r.method} ${r.path}: no X-GitHub-Api-Version`);
  if (!r.headers['user-agent']) problems.push(`${r.method} ${r.path}: no User-Agent`);
  const key = `${r.method} ${r.path.replace(/^\/repos\/[^/]+\/[^/]+/, '/repos/{owner}/{repo}')}`;
  const perPage = Number(r.query.per_page ?? 30);
  if (r.method === 'GET' && (perPage < 1 || perPage > 100)) problems.push(`${key}: per_page ${r.query.per_page}`);
  if (/^POST \/repos\/\{owner\}\/\{repo\}\/statuses\/[0-9a-f]{40}$/.test(key)) {
    keys(['state', 'target_url', 'description', 'context'], ['state']);
    const b = r.body as { state: string; description?: string };
    if (!['error', 'failure', 'pending', 'success'].includes(b.state)) problems.push(`${key}: state ${b.state}`);
    if ((b.description ?? '').length > 140) problems.push(`${key}: description over 140 characters`);
  } else if (/^POST \/repos\/\{owner\}\/\{repo\}\/issues\/\d+\/labels$/.test(key)) {
    keys(['labels'], ['labels']);
    const labels = (r.body as { labels: unknown }).labels;
    if (!Array.isArray(labels) || labels.length === 0 || labels.some((l) => typeof l !== 'string'))
      problems.push(`${key}: labels must be a non-empty array of names`);
  } else if (
    /^POST \/repos\/\{owner\}\/\{repo\}\/issues\/\d+\/comments$/.test(key) ||
    /^PATCH \/repos\/\{owner\}\/\{repo\}\/issues\/comments\/\d+$/.test(key)
  ) {
    keys(['body'], ['body']);
    if (((r.body as { body: string }).body ?? '').length > 65536) problems.push(`${key}: body over 65536 characters`);
  } else if (
    /^DELETE \/repos\/\{owner\}\/\{repo\}\/issues\/(\d+\/labels\/[^/]+|comments\/\d+)$/.test(key) ||
    /^GET \/repos\/\{owner\}\/\{repo\}\/(pulls\/\d+\/(commits|files)|issues\/\d+\/(labels|comments)|commits\/[0-9a-f]{40}\/statuses|contents\/\.lxcts\.yml|git\/trees\/[0-9a-f]{40})$/.test(
      key,
    )
  ) {
    if (r.body !== undefined) problems.push(`${key}: a body where none is documented`);
    if (/contents/.test(key) && !/^[0-9a-f]{40}$/.test(r.query.ref ?? '')) problems.push(`${key}: contents read without the base's ref`);
    if (/git\/trees/.test(key) && r.query.recursive === undefined) problems.push(`${key}: tree read without recursive`);
  } else {
    problems.push(`${key}: not an endpoint the patch parser should call`);
  }
  return problems;
}
