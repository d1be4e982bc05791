/**
 * @tier unit
 * The pure parts of `ci up`: ports checked before anything starts, the secret files and
 * up.json written safely, the children's JSON log lines made readable.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

import { readableLogLine } from '../../src/ci/logger';

const readableLine = (line: string) => readableLogLine(line, { colour: false, underPrefix: true });
import { choosePorts, PORT_NAMES, PortName } from '../../src/up/ports';
import { ensureSecretFile, writeJsonAtomically } from '../../src/up/up-files';

/** A port nothing listens on now. */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const loopback = Object.fromEntries(PORT_NAMES.map((n) => [n, '127.0.0.1'])) as Record<PortName, string>;

describe('choosePorts', () => {
  test('a given port that is taken is refused with the port, its component and its flag', async () => {
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const { port } = taken.address() as net.AddressInfo;
    try {
      await expect(choosePorts(loopback, { 'nsqd-http': port })).rejects.toMatchObject({
        code: 'PORT_TAKEN',
        message: `port ${port} on 127.0.0.1 (nsqd's HTTP port, --nsqd-http-port) is taken: stop what listens there or give another port`,
      });
    } finally {
      taken.close();
    }
  });

  test('one port given for two components is refused', async () => {
    const port = await freePort();
    await expect(choosePorts(loopback, { webhook: port, dashboard: port })).rejects.toMatchObject({ code: 'PORT_TAKEN', portName: 'dashboard' });
  });

  test('every component gets a port of its own: the given ones, and free distinct ones for the rest', async () => {
    const port = await freePort();
    const ports = await choosePorts(loopback, { dashboard: port });
    expect(ports.dashboard).toBe(port);
    expect(Object.keys(ports).sort()).toEqual([...PORT_NAMES].sort());
    expect(new Set(Object.values(ports)).size).toBe(PORT_NAMES.length);
  });
});

describe('the files ci up keeps', () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lxcts-up-unit-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('a missing or empty secret file is made: 64 hex digits, mode 0600; an existing one is kept as it is', () => {
    const made = ensureSecretFile(path.join(dir, 'webhook-secret'));
    expect(made.created).toBe(true);
    expect(fs.readFileSync(made.file, 'utf8')).toMatch(/^[0-9a-f]{64}\n$/);
    expect(fs.statSync(made.file).mode & 0o777).toBe(0o600);
    expect(ensureSecretFile(made.file).created).toBe(false);
    expect(ensureSecretFile(path.join(dir, 'other')).file).not.toBe(made.file);
    expect(fs.readFileSync(path.join(dir, 'other'), 'utf8')).not.toBe(fs.readFileSync(made.file, 'utf8'));

    const own = path.join(dir, 'own');
    fs.writeFileSync(own, 'my-own-secret\n', { mode: 0o600 });
    expect(ensureSecretFile(own)).toEqual({ file: own, created: false });
    expect(fs.readFileSync(own, 'utf8')).toBe('my-own-secret\n');

    const empty = path.join(dir, 'empty');
    fs.writeFileSync(empty, '\n', { mode: 0o644 });
    expect(ensureSecretFile(empty).created).toBe(true);
    expect(fs.statSync(empty).mode & 0o777).toBe(0o600);
  });

  test('a kept secret file that others may read, or that is a symlink, is refused and left as it is', () => {
    const shared = path.join(dir, 'shared');
    fs.writeFileSync(shared, 'everyone-knows\n', { mode: 0o644 });
    fs.chmodSync(shared, 0o644);
    expect(() => ensureSecretFile(shared)).toThrow(`the secret file ${shared} has mode 644: others may read it; chmod 600 it`);
    expect(fs.readFileSync(shared, 'utf8')).toBe('everyone-knows\n');
    // A link planted where the secret goes would have us read (and vouch for) another file.
    const link = path.join(dir, 'link');
    fs.symlinkSync(shared, link);
    expect(() => ensureSecretFile(link)).toThrow(/cannot open the secret file/);
    expect(fs.lstatSync(link).isSymbolicLink()).toBe(true);
  });

  test('up.json is written whole through a rename: no temporary file stays behind', () => {
    const file = path.join(dir, 'up.json');
    writeJsonAtomically(file, { a: 1 });
    writeJsonAtomically(file, { b: 2 });
    expect(JSON.parse(fs.readFileSync(file, 'utf8'))).toEqual({ b: 2 });
    expect(fs.readdirSync(dir)).toEqual(['up.json']);
  });
});

describe("readableLogLine under ci up's prefix", () => {
  test('a pino line becomes LEVEL message key=value, without what every line or the prefix says', () => {
    const line = JSON.stringify({
      level: 40,
      time: 1,
      pid: 7,
      component: 'worker',
      channel: 'docs',
      msg: 'infrastructure error; requeued',
      err: 'no space left',
      attempts: 2,
    });
    expect(readableLine(line)).toBe('WARN  infrastructure error; requeued channel=docs err="no space left" attempts=2');
    expect(readableLine(JSON.stringify({ level: 50, msg: 'failed', err: { type: 'Error', message: 'boom', stack: 'Error: boom\n at x' } }))).toBe(
      'ERROR failed err="boom"',
    );
  });

  test('any other line is shown as it came', () => {
    for (const line of ['[nsqd] 2026/12/04 INFO: TCP: listening', '{"level":30', '{"level":"x","msg":"m"}', 'lxcts CI server: http://127.0.0.1:8090/']) {
      expect(readableLine(line)).toBe(line);
    }
  });
});
