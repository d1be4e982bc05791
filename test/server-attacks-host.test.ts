/**
 * DNS rebinding against the dashboard (host-check.ts): a page of another site whose name
 * was made to resolve to 127.0.0.1 reaches the server with its own name in Host. A real
 * server on loopback (startServer, real nsqd) and `ci server` as a process: requests sent
 * with `Host: evil.example:PORT` are refused on every route, the listen address, localhost,
 * the public URL's host and each --allowed-host are answered, and `*` turns the check off.
 */
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { loggerFor } from '../src/ci/logger';
import { type RunningServer, startServer } from '../src/server/app';
import { rawRequest, type RawResponse } from './helpers/http-server';
import { TestNsq } from './helpers/nsq';
import { CliProcesses } from './helpers/pipeline';
import { startServerProcess } from './helpers/server-process';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lxcts-server-host-'));
const nsq = new TestNsq();
const log = loggerFor('server-host-test');
const servers: RunningServer[] = [];
const procs = new CliProcesses(path.join(dir, 'cli'));
const COMMIT = 'a'.repeat(40);
const BINARY = `/binaries/octo/app/${COMMIT}/app.bin`;

beforeAll(async () => {
  await nsq.start();
  fs.mkdirSync(procs.dataRoot, { recursive: true });
});

afterAll(async () => {
  await procs.killAll();
  for (const s of servers) await s.close();
  await nsq.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

type StartOptions = Partial<Pick<Parameters<typeof startServer>[0], 'publicUrl' | 'allowedHosts' | 'workerToken' | 'adminToken' | 'readToken'>>;

async function start(name: string, options: StartOptions = {}): Promise<{ port: number }> {
  const dataDir = path.join(dir, name);
  const s = await startServer({ dataDir, host: '127.0.0.1', port: 0, nsqdTcp: [nsq.nsqdTcp], nsqdHttp: [nsq.nsqdHttp], log, ...options });
  servers.push(s);
  const binary = path.join(dataDir, BINARY);
  fs.mkdirSync(path.dirname(binary), { recursive: true });
  fs.writeFileSync(binary, 'secret build output');
  return { port: Number(new URL(s.url).port) };
}

const get = (port: number, target: string, host: string, headers: Record<string, string> = {}): Promise<RawResponse> =>
  rawRequest(port, target, { headers: { Host: host, ...headers } });

const ROUTES = ['/', '/api/builds', BINARY, '/queue', '/metrics'];

test('a rebound name is refused on every route, with 421 and a sentence, and the listen address and localhost are answered', async () => {
  const { port } = await start('defaults');
  for (const route of ROUTES) {
    const refused = await get(port, route, `evil.example:${port}`);
    expect({ route, status: refused.status }).toEqual({ route, status: 421 });
    expect(refused.body.toString()).toMatch(/does not answer to the host name "evil\.example:\d+".*DNS rebinding.*--allowed-host/s);
    expect(refused.body.toString()).not.toContain('secret build output');
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `LOCALHOST.:${port}`, `[::1]:${port}`, '127.0.0.1']) {
      expect({ route, host, status: (await get(port, route, host)).status }).toEqual({ route, host, status: 200 });
    }
  }
  expect((await get(port, BINARY, `127.0.0.1:${port}`)).body.toString()).toBe('secret build output');
  // Names that only look like an allowed one (@hono/node-server itself answers 400 to a Host that is no URL's host).
  for (const host of [`localhost.evil.example:${port}`, `127.0.0.1.nip.io:${port}`, `evil.example@127.0.0.1:${port}`, `[evil]:${port}`]) {
    const { status } = await get(port, '/api/builds', host);
    expect({ host, refused: status === 421 || status === 400 }).toEqual({ host, refused: true });
  }
});

test('the public URL host and --allowed-host names are answered, others still refused; * answers any', async () => {
  const { port } = await start('named', { publicUrl: 'https://CI.Example.org/', allowedHosts: ['dashboard.internal'] });
  for (const host of [`ci.example.org`, `ci.example.org:${port}`, `dashboard.internal:${port}`]) {
    expect({ host, status: (await get(port, '/api/builds', host)).status }).toEqual({ host, status: 200 });
  }
  expect((await get(port, '/api/builds', `evil.example:${port}`)).status).toBe(421);

  const open = await start('open', { allowedHosts: ['*'] });
  expect((await get(open.port, BINARY, `evil.example:${open.port}`)).status).toBe(200);
});

test('`ci server --allowed-host` through the CLI: the name is answered, a rebound one refused, a bad value exits 2', async () => {
  const { url } = await startServerProcess(procs, '--nsqd-tcp', nsq.nsqdTcp, '--allowed-host', 'ci.internal:8443', '--allowed-host', 'dash.internal');
  const port = Number(new URL(url).port);
  expect((await get(port, '/api/builds', `ci.internal:${port}`)).status).toBe(200);
  expect((await get(port, '/api/builds', 'dash.internal')).status).toBe(200);
  expect((await get(port, '/api/builds', `evil.example:${port}`)).status).toBe(421);

  const bad = procs.start(['ci', 'server', '--listen', '127.0.0.1:0', '--nsqd-tcp', nsq.nsqdTcp, '--allowed-host', 'evil/name'], 'server-bad');
  const [code] = bad.exitCode === null ? await once(bad, 'exit') : [bad.exitCode];
  expect(code).toBe(2);
  expect(procs.logOf(bad)).toMatch(/--allowed-host: "evil\/name" is not a host name/);
});

test("a request carrying one of the server's tokens passes under any name (workers, ci rerun, Prometheus); a wrong token does not", async () => {
  const tokens = { workerToken: 'w'.repeat(32), adminToken: 'a'.repeat(32), readToken: 'r'.repeat(32) };
  const { port } = await start('tokens', tokens);
  const evil = `evil.example:${port}`;
  const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });
  expect((await get(port, '/api/builds', evil, bearer(tokens.adminToken))).status).toBe(200);
  expect((await get(port, BINARY, evil, bearer(tokens.readToken))).status).toBe(200);
  // The uploads route answers the worker (404: no GET there), not the guard.
  expect((await get(port, '/uploads', evil, bearer(tokens.workerToken))).status).toBe(404);
  for (const headers of [bearer('x'.repeat(32)), bearer(''), { Authorization: 'Basic abc' }, {}]) {
    expect({ headers, status: (await get(port, '/api/builds', evil, headers)).status }).toEqual({ headers, status: 421 });
  }
});
