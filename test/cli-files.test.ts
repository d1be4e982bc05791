/**
 * `lxcts file push` and `lxcts file pull` as a user runs them (the built bin/run.js):
 * files both ways, stdin and stdout, trees as tar streams through the host's tar.
 */
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { Container } from '../src';
import { lxcts } from './helpers/cli';
import { Sandbox } from './helpers/sandbox';

const sandbox = new Sandbox('cli-files');
let c: Container;
let dir: string;

beforeAll(async () => {
  c = await sandbox.busybox(sandbox.name('clifiles'));
  await c.start();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lxcts-cli-files-'));
});
afterAll(async () => {
  fs.rmSync(dir, { recursive: true, force: true });
  await sandbox.cleanup();
});

test('file push then file pull: a host file in with its mode and owner, and back out to a file', async () => {
  const src = path.join(dir, 'in.txt');
  fs.writeFileSync(src, 'from the host\n');
  const push = lxcts(sandbox.lxcpath, ['file', 'push', c.name, src, '/tmp/in.txt', '--mode', '0600', '--user', '12:34']);
  expect(push.stderr).toBe('');
  expect(push.status).toBe(0);
  expect((await c.exec(['stat', '-c', '%a %u %g', '/tmp/in.txt'])).stdout.toString()).toBe('600 12 34\n');
  const dest = path.join(dir, 'out.txt');
  expect(lxcts(sandbox.lxcpath, ['file', 'pull', c.name, '/tmp/in.txt', dest]).status).toBe(0);
  expect(fs.readFileSync(dest, 'utf8')).toBe('from the host\n');
});

test('stdin in and stdout out; a missing file fails with its reason and a non-zero exit', () => {
  expect(lxcts(sandbox.lxcpath, ['file', 'push', c.name, '-', '/tmp/stdin.txt'], { input: 'piped\n' }).status).toBe(0);
  expect(lxcts(sandbox.lxcpath, ['file', 'pull', c.name, '/tmp/stdin.txt']).stdout).toBe('piped\n');
  const missing = lxcts(sandbox.lxcpath, ['file', 'pull', c.name, '/tmp/nothing-here']);
  expect(missing.status).not.toBe(0);
  expect(missing.stderr).toContain('No such file or directory');
});

test('--tar: a tree made by the host tar goes in, and comes out for the host tar to unpack, links as links', () => {
  const tree = path.join(dir, 'tree');
  fs.mkdirSync(path.join(tree, 'sub'), { recursive: true });
  fs.writeFileSync(path.join(tree, 'sub', 'f'), 'leaf\n');
  fs.symlinkSync('/etc/passwd', path.join(tree, 'link'));
  const archive = execFileSync('tar', ['-C', tree, '-c', '.']);
  const push = lxcts(sandbox.lxcpath, ['file', 'push', c.name, '-', '/srv/tree', '--tar'], { input: archive.toString('latin1') });
  expect(push.status).toBe(0);
  const out = path.join(dir, 'back');
  fs.mkdirSync(out);
  const pulled = execFileSync(process.execPath, [path.join(__dirname, '..', 'bin', 'run.js'), 'file', 'pull', c.name, '/srv/tree', '--tar'], {
    env: { ...process.env, LXCTS_LXCPATH: sandbox.lxcpath },
  });
  execFileSync('tar', ['-x', '-C', out], { input: pulled });
  expect(fs.readFileSync(path.join(out, 'tree', 'sub', 'f'), 'utf8')).toBe('leaf\n');
  expect(fs.readlinkSync(path.join(out, 'tree', 'link'))).toBe('/etc/passwd');
});

test('--timeout: a push whose input never ends stops, fails with its reason, and leaves no half file', async () => {
  const child = spawn(process.execPath, [path.join(__dirname, '..', 'bin', 'run.js'), 'file', 'push', c.name, '-', '/tmp/never-whole', '--timeout', '1'], {
    env: { ...process.env, LXCTS_LXCPATH: sandbox.lxcpath },
    stdio: ['pipe', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  // Some bytes, and then the input stays open: only the deadline ends the copy.
  child.stdin.write(Buffer.alloc(1024 * 1024, 1));
  const [status] = (await once(child, 'exit')) as [number | null];
  child.stdin.destroy();
  expect(status).not.toBe(0);
  expect(stderr).toContain('timed out');
  expect((await c.exec(['sh', '-c', 'ls -a /tmp | grep -c -e never-whole -e "^.lxcts-" || true'])).stdout.toString()).toBe('0\n');
});
