/**
 * `lxcts ci logs --server URL [--follow]` (log-follow.ts) against a hostile server on a
 * loopback port: whoever runs the server (or sits between) chooses every byte of every
 * answer. The follower must neither keep an answer larger than it asked for in memory,
 * nor take strings it prints to the user's terminal (repository, job, status) as they came.
 */
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';

import { LogFollowError, followServerLog } from '../src/server/log-follow';
import { binRun } from './helpers/cli';

const MIB = 1024 * 1024;

interface Hostile {
  url: string;
  /** Connections to the event stream so far. */
  eventConnections: number;
  close(): Promise<void>;
}

type Handler = (req: http.IncomingMessage, res: http.ServerResponse, hostile: Hostile) => void;

const servers: Hostile[] = [];

async function hostileServer(handle: Handler): Promise<Hostile> {
  const hostile: Hostile = { url: '', eventConnections: 0, close: async () => undefined };
  const server = http.createServer((req, res) => handle(req, res, hostile));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  hostile.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  hostile.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  servers.push(hostile);
  return hostile;
}

afterAll(async () => {
  for (const s of servers) await s.close();
});

const summary = (o: Record<string, unknown> = {}) => ({
  id: 1,
  status: 'success',
  repo: 'alice/tool',
  job: 'binaries',
  branch: 'main',
  commit: 'a'.repeat(40),
  log: { chunks: 1, bytes: 0 },
  logAvailable: 0,
  logComplete: true,
  ...o,
});

/** Counts what reaches the terminal without keeping it. */
function counter(): { out: Writable; bytes: () => number } {
  let n = 0;
  const out = new Writable({
    write(chunk: Buffer, _encoding, done) {
      n += chunk.length;
      done();
    },
  });
  return { out, bytes: () => n };
}

/** Writes `total` bytes of `fill` in 1 MiB pieces, honouring backpressure; stops when the client goes. */
async function writeMany(res: http.ServerResponse, total: number, fill = 0x61): Promise<void> {
  const piece = Buffer.alloc(MIB, fill);
  for (let sent = 0; sent < total && !res.destroyed; sent += MIB) {
    if (res.write(piece)) continue;
    const waited = new AbortController();
    await Promise.race([once(res, 'drain', { signal: waited.signal }), once(res, 'close', { signal: waited.signal })]).finally(() => waited.abort());
  }
}

async function refusal(run: Promise<unknown>): Promise<LogFollowError> {
  const err = await run.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(LogFollowError);
  return err as LogFollowError;
}

describe('ci logs --server against a hostile server', () => {
  it('refuses a log page larger than it asked for instead of taking it into memory', async () => {
    const total = 64 * MIB;
    const s = await hostileServer((req, res) => {
      if (req.url === '/api/builds/1') {
        res.end(JSON.stringify(summary({ logAvailable: total })));
        return;
      }
      // Headers that add up: only the size is wrong (it asked for at most MAX_LOG_PAGE).
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'X-Log-Next-Offset': String(total), 'X-Log-Available': String(total) });
      void writeMany(res, total).then(() => res.end());
    });
    const { out, bytes } = counter();
    const err = await refusal(followServerLog({ server: s.url, id: 1, out, follow: false }));
    expect(err.code).toBe('SERVER_ERROR');
    expect(bytes()).toBe(0);
  });

  it('refuses a build summary of many megabytes', async () => {
    const s = await hostileServer((req, res) => {
      if (req.url !== '/api/builds/1') {
        res.end();
        return;
      }
      const head = JSON.stringify(summary());
      res.write(`${head.slice(0, -1)}, "padding": "`);
      void writeMany(res, 64 * MIB).then(() => res.end('"}'));
    });
    const err = await refusal(followServerLog({ server: s.url, id: 1, out: counter().out, follow: false }));
    expect(err.code).toBe('SERVER_ERROR');
  });

  it('refuses a summary whose names would reach the terminal as escape sequences', async () => {
    // `ci logs` prints "build 1 (REPO JOB): STATUS" to stderr: an OSC sequence there sets the
    // terminal's title, or writes its clipboard (OSC 52) on terminals that allow it.
    const s = await hostileServer((req, res) => {
      if (req.url === '/api/builds/1') {
        res.end(JSON.stringify(summary({ repo: 'alice/tool\x1b]52;c;cm0gLXJmIH4K\x07', job: 'x\x1b[2J' })));
        return;
      }
      res.writeHead(200, { 'X-Log-Next-Offset': '0', 'X-Log-Available': '0' });
      res.end();
    });
    const err = await refusal(followServerLog({ server: s.url, id: 1, out: counter().out, follow: false }));
    expect(err.code).toBe('SERVER_ERROR');
  });

  it('gives up on an event stream that sends an endless event instead of buffering it', async () => {
    const stop = new AbortController();
    const s = await hostileServer((req, res, self) => {
      if (req.url === '/api/builds/1') {
        res.end(JSON.stringify(summary({ status: 'running', log: null, logComplete: false })));
        return;
      }
      if (req.url?.startsWith('/builds/1/events')) {
        // Without a bound the follower buffers each of these, then reconnects for more, forever:
        // the test ends that after a few connections (the follower then rejects with the abort).
        if (++self.eventConnections > 3) stop.abort(new Error('reconnected for more'));
        res.writeHead(200, { 'Content-Type': 'text/event-stream' });
        res.write('data: ');
        void writeMany(res, 32 * MIB).then(() => res.end());
        return;
      }
      res.writeHead(200, { 'X-Log-Next-Offset': '0', 'X-Log-Available': '0' });
      res.end();
    });
    const err = await refusal(followServerLog({ server: s.url, id: 1, out: counter().out, follow: true, signal: stop.signal }));
    expect(err.code).toBe('SERVER_ERROR');
    expect(s.eventConnections).toBe(1);
  });
});

describe('ci logs --server writing a hostile log to a terminal', () => {
  // What the build printed: colours, and sequences that make a terminal act or answer.
  const LOG = 'before \x1b]52;c;Y3VybCBldmlsLnNoIHwgc2gK\x07\x1b[6n\x1b]0;pwned\x1b\\\x1b[1;31mred\x1b[0m after\n';
  let url = '';

  beforeAll(async () => {
    const s = await hostileServer((req, res) => {
      const bytes = Buffer.from(LOG, 'latin1');
      if (req.url === '/api/builds/1') {
        res.end(JSON.stringify(summary({ logAvailable: bytes.length, log: { chunks: 1, bytes: bytes.length } })));
        return;
      }
      res.writeHead(200, { 'X-Log-Next-Offset': String(bytes.length), 'X-Log-Available': String(bytes.length) });
      res.end(bytes);
    });
    url = s.url;
  });

  const run = promisify(execFile);

  it('on a terminal: the colours stay, the rest of the escape sequences go', async () => {
    // script(1) gives the command a terminal and copies what reached it to its stdout.
    const command = `${process.execPath} ${binRun} ci logs 1 --server ${url}`;
    const { stdout } = await run('script', ['-qec', command, '/dev/null'], { encoding: 'latin1', env: { ...process.env, TERM: 'xterm' } });
    expect(stdout).toContain('before \x1b[1;31mred\x1b[0m after');
    // eslint-disable-next-line no-control-regex
    expect(stdout).not.toMatch(/\x1b\]|\x1b\[6n|pwned/);
  });

  it('piped: the log as the build wrote it, byte for byte', async () => {
    const { stdout } = await run(process.execPath, [binRun, 'ci', 'logs', '1', '--server', url], { encoding: 'latin1' });
    expect(stdout).toBe(LOG);
  });
});
