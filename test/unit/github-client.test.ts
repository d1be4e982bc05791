/**
 * @tier unit
 * The GitHub client against a local recording stand-in for the API (test/helpers/github-api.ts):
 * what a status post sends, checked against GitHub's documentation of
 * `POST /repos/{owner}/{repo}/statuses/{sha}`; retries after a 500; waits as long as a 403
 * or 429 rate limit says; a GitHub App's JWT, installation lookup and token refresh.
 */
import * as crypto from 'node:crypto';

import { createGitHub } from '../../src/github/client';
import { DEFAULT_RETRY_POLICY, retryDelayMs } from '../../src/github/retry';
import { capturedLog } from '../helpers/captured-log';
import { startGitHubApi, type GitHubApi } from '../helpers/github-api';
import { at, must } from '../helpers/must';

const SHA = 'a'.repeat(40);
const STATUS_PATH = `/repos/octo/widgets/statuses/${SHA}`;
const status = {
  owner: 'octo',
  repo: 'widgets',
  sha: SHA,
  state: 'success',
  target_url: 'http://ci.example/builds/1',
  description: 'passed',
  context: 'lxcts/unit',
} as const;
const fastRetry = { baseDelayMs: 5, maxDelayMs: 20 };

let api: GitHubApi;
beforeEach(async () => {
  api = await startGitHubApi();
});
afterEach(async () => {
  await api.close();
});

const waits = (lines: Array<Record<string, unknown>>) => lines.filter((l) => l.msg === 'GitHub request failed; trying again').map((l) => l.waitMs);

test('a status post is what GitHub documents: path, JSON fields, token auth, media type and API version', async () => {
  const { log } = capturedLog();
  const octokit = await createGitHub({ baseUrl: `${api.url}/`, auth: { token: 'ghp_secret' }, log }).forRepo('octo', 'widgets');
  const { status: code } = await octokit.request('POST /repos/{owner}/{repo}/statuses/{sha}', status);
  expect(code).toBe(201);
  expect(api.requests).toHaveLength(1);
  const r = at(api.requests, 0);
  expect(r.method).toBe('POST');
  expect(r.path).toBe(STATUS_PATH);
  expect(r.body).toEqual({ state: 'success', target_url: 'http://ci.example/builds/1', description: 'passed', context: 'lxcts/unit' });
  expect(r.headers.authorization).toBe('token ghp_secret');
  expect(r.headers.accept).toBe('application/vnd.github+json');
  expect(r.headers['x-github-api-version']).toBe('2022-11-28');
  expect(r.headers['content-type']).toMatch(/^application\/json/);
  expect(r.headers['user-agent']).toMatch(/^lxcts/);
});

test('a 500 then success: tried again after a backoff, one status in the end', async () => {
  const { log, lines } = capturedLog();
  api.script(`POST ${STATUS_PATH}`, { status: 500, body: { message: 'boom' } }, { status: 502 });
  const octokit = await createGitHub({ baseUrl: api.url, auth: { token: 't' }, log, retry: fastRetry }).forRepo('octo', 'widgets');
  expect((await octokit.request('POST /repos/{owner}/{repo}/statuses/{sha}', status)).status).toBe(201);
  expect(api.to(`POST ${STATUS_PATH}`)).toHaveLength(3);
  expect(waits(lines)).toHaveLength(2);
});

test('a 403 rate limit with Retry-After: the client waits what it says, then succeeds', async () => {
  const { log, lines } = capturedLog();
  api.script(`POST ${STATUS_PATH}`, {
    status: 403,
    headers: { 'retry-after': '1', 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(Math.floor(Date.now() / 1000) + 3600) },
    body: { message: 'You have exceeded a secondary rate limit.' },
  });
  const octokit = await createGitHub({ baseUrl: api.url, auth: { token: 't' }, log, retry: fastRetry }).forRepo('octo', 'widgets');
  expect((await octokit.request('POST /repos/{owner}/{repo}/statuses/{sha}', status)).status).toBe(201);
  expect(api.to(`POST ${STATUS_PATH}`)).toHaveLength(2);
  // Retry-After wins over the reset an hour away.
  expect(waits(lines)).toEqual([1000]);
});

test('a 429 and a primary limit (remaining 0, reset): both waited for, then success', async () => {
  const { log, lines } = capturedLog();
  const reset = Math.floor(Date.now() / 1000) + 2;
  api.script(
    `POST ${STATUS_PATH}`,
    { status: 429, headers: { 'retry-after': '1' } },
    { status: 403, headers: { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(reset) } },
  );
  const octokit = await createGitHub({ baseUrl: api.url, auth: { token: 't' }, log, retry: fastRetry }).forRepo('octo', 'widgets');
  expect((await octokit.request('POST /repos/{owner}/{repo}/statuses/{sha}', status)).status).toBe(201);
  expect(api.to(`POST ${STATUS_PATH}`)).toHaveLength(3);
  const [first, second] = waits(lines) as number[];
  expect(first).toBe(1000);
  // One second past the reset, which is two seconds from the start at most.
  expect(second).toBeGreaterThan(0);
  expect(second).toBeLessThanOrEqual(3000);
});

test('a limit longer than the policy waits, a permission 403 and a 422: thrown at once, with retryAt for the limit', async () => {
  const { log } = capturedLog();
  const reset = Math.floor(Date.now() / 1000) + 3600;
  api.script(
    `POST ${STATUS_PATH}`,
    { status: 403, headers: { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(reset) } },
    { status: 403, body: { message: 'Resource not accessible by integration' } },
    { status: 422, body: { message: 'Validation Failed' } },
  );
  const octokit = await createGitHub({ baseUrl: api.url, auth: { token: 't' }, log, retry: fastRetry }).forRepo('octo', 'widgets');
  const limited = await octokit.request('POST /repos/{owner}/{repo}/statuses/{sha}', status).catch((e: unknown) => e);
  expect(limited).toMatchObject({ status: 403, retryAt: reset * 1000 + 1000 });
  await expect(octokit.request('POST /repos/{owner}/{repo}/statuses/{sha}', status)).rejects.toMatchObject({ status: 403 });
  await expect(octokit.request('POST /repos/{owner}/{repo}/statuses/{sha}', status)).rejects.toMatchObject({ status: 422 });
  expect(api.to(`POST ${STATUS_PATH}`)).toHaveLength(3);
});

test('retryDelayMs: the rules in one table', () => {
  const p = DEFAULT_RETRY_POLICY;
  const err = (status: number, headers: Record<string, string> = {}, message = '') => ({ status, message, response: { headers } });
  const half = () => 0.5;
  expect(retryDelayMs(err(500), 0, p, 0, half)).toBe(750);
  expect(retryDelayMs(err(503), 2, p, 0, half)).toBe(3000);
  expect(retryDelayMs(err(500), p.retries, p, 0, half)).toBeNull();
  expect(retryDelayMs(new Error('socket hang up'), 0, p, 0, half)).toBe(750);
  expect(retryDelayMs(err(404), 0, p, 0)).toBeNull();
  expect(retryDelayMs(err(403), 0, p, 0)).toBeNull();
  expect(retryDelayMs(err(403, {}, 'You have exceeded a secondary rate limit'), 0, p, 0)).toBe(60_000);
  expect(retryDelayMs(err(429), 0, p, 0)).toBe(60_000);
  expect(retryDelayMs(err(429, { 'retry-after': 'Thu, 01 Jan 1970 00:00:05 GMT' }), 0, p, 0)).toBe(5000);
  expect(retryDelayMs(err(403, { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '10' }), 0, p, 4000)).toBe(7000);
  expect(retryDelayMs(err(403, { 'retry-after': '61' }), 0, p, 0)).toBeNull();
});

describe('a GitHub App', () => {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();

  /** Checks a JWT GitHub would accept from App 123: RS256, signed by our key, issued by the App, at most 10 minutes. */
  function expectAppJwt(authorization: string | undefined) {
    const [scheme, jwt] = (authorization ?? '').split(' ');
    expect(scheme).toBe('bearer');
    const [header, payload, signature] = must(jwt, 'a JWT').split('.');
    expect(JSON.parse(Buffer.from(must(header, 'a JWT header'), 'base64url').toString())).toMatchObject({ alg: 'RS256' });
    expect(crypto.verify('RSA-SHA256', Buffer.from(`${header}.${payload}`), publicKey, Buffer.from(must(signature, 'a JWT signature'), 'base64url'))).toBe(
      true,
    );
    const claims = JSON.parse(Buffer.from(must(payload, 'a JWT payload'), 'base64url').toString()) as { iss: unknown; iat: number; exp: number };
    expect(String(claims.iss)).toBe('123');
    expect(claims.exp - claims.iat).toBeLessThanOrEqual(600);
  }

  test('installation found per repository, token made with a JWT, reused, refreshed before it expires', async () => {
    const { log } = capturedLog();
    let clock = Date.now();
    api.script('GET /repos/octo/widgets/installation', { status: 200, body: { id: 42, account: { login: 'octo' } } });
    const expiresIn = (ms: number) => ({
      status: 201,
      body: { token: `ghs_${ms}`, expires_at: new Date(clock + ms).toISOString(), permissions: { statuses: 'write' } },
    });
    api.script('POST /app/installations/42/access_tokens', expiresIn(3600_000));
    const github = createGitHub({ baseUrl: api.url, auth: { appId: 123, privateKey: pem }, log, now: () => clock });
    const post = async () => (await github.forRepo('octo', 'widgets')).request('POST /repos/{owner}/{repo}/statuses/{sha}', status);
    await post();
    await post();
    expect(api.to('GET /repos/octo/widgets/installation')).toHaveLength(1);
    expectAppJwt(at(api.to('GET /repos/octo/widgets/installation'), 0).headers.authorization);
    const tokenRequests = api.to('POST /app/installations/42/access_tokens');
    expect(tokenRequests).toHaveLength(1);
    expectAppJwt(at(tokenRequests, 0).headers.authorization);
    expect(api.to(`POST ${STATUS_PATH}`).map((r) => r.headers.authorization)).toEqual(['token ghs_3600000', 'token ghs_3600000']);

    // 56 minutes later the token has 4 left: inside the 5-minute margin, so a new one is made first.
    clock += 56 * 60_000;
    api.script('POST /app/installations/42/access_tokens', expiresIn(3600_000 + 1));
    await post();
    expect(api.to('POST /app/installations/42/access_tokens')).toHaveLength(2);
    expect(at(api.to(`POST ${STATUS_PATH}`), 2).headers.authorization).toBe('token ghs_3600001');
  });
});
