/**
 * A local HTTP server standing in for the GitHub REST API: records every request (method,
 * path, headers, parsed JSON body) and answers from a script. A route without a scripted
 * answer gets GitHub's own answer to a status post (201 with the status) or to an
 * installation token request (201, a token valid one hour); anything else is 404.
 *
 *     const api = await startGitHubApi();
 *     api.script('POST /repos/o/r/statuses/abc', { status: 500 }, { status: 201 });
 *     ... api.requests ...
 *     await api.close();
 */
import { Hono } from 'hono';

import { startServer, type TestServer } from './http-server';

export interface RecordedRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: unknown;
}

export interface ScriptedAnswer {
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
}

export interface GitHubApi {
  url: string;
  requests: RecordedRequest[];
  /** Answers for `METHOD /path` (exact path, or a RegExp on `METHOD /path`), used one per request in order; then the default. */
  script(route: string | RegExp, ...answers: ScriptedAnswer[]): void;
  /** The requests to one `METHOD /path` (or matching a RegExp). */
  to(route: string | RegExp): RecordedRequest[];
  close(): Promise<void>;
}

const matches = (route: string | RegExp, key: string) => (typeof route === 'string' ? route === key : route.test(key));

let tokens = 0;

function defaultAnswer(method: string, path: string, body: unknown): ScriptedAnswer {
  if (method === 'POST' && /^\/repos\/[^/]+\/[^/]+\/statuses\/[0-9a-f]{40}$/.test(path)) {
    return { status: 201, body: { id: 1, ...(body as object) } };
  }
  if (method === 'POST' && /^\/app\/installations\/\d+\/access_tokens$/.test(path)) {
    tokens += 1;
    return {
      status: 201,
      body: {
        token: `ghs_test${tokens}`,
        expires_at: new Date(Date.now() + 3600_000).toISOString(),
        permissions: { statuses: 'write' },
        repository_selection: 'all',
      },
    };
  }
  return { status: 404, body: { message: 'Not Found', documentation_url: 'https://docs.github.com/rest' } };
}

export async function startGitHubApi(): Promise<GitHubApi> {
  const requests: RecordedRequest[] = [];
  const scripts: Array<{ route: string | RegExp; answers: ScriptedAnswer[] }> = [];
  const app = new Hono();
  app.all('*', async (c) => {
    const method = c.req.method;
    const path = new URL(c.req.url).pathname;
    const text = await c.req.text();
    let body: unknown = text;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      // Recorded as text: the test's checks then fail on it.
    }
    requests.push({ method, path, headers: Object.fromEntries(c.req.raw.headers), body });
    const key = `${method} ${path}`;
    const script = scripts.find((s) => matches(s.route, key) && s.answers.length > 0);
    const answer = script?.answers.shift() ?? defaultAnswer(method, path, body);
    return c.json(answer.body ?? {}, answer.status as 200, answer.headers);
  });
  const server: TestServer = await startServer(app);
  return {
    url: server.url,
    requests,
    script: (route, ...answers) => scripts.push({ route, answers }),
    to: (route) => requests.filter((r) => matches(route, `${r.method} ${r.path}`)),
    close: () => server.close(),
  };
}
