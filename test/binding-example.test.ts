import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { TestBridge } from './helpers/bridge';

const root = path.resolve(__dirname, '..');
// The example's container goes on a bridge of the test's own: no way out of this machine.
const bridge = new TestBridge('demo');
beforeAll(() => bridge.up());
afterAll(() => bridge.down());

test('the binding example (examples/binding.js) runs against the built package: lifecycle, exec, streaming, address, CPU and the first errors', () => {
  // `npm test` builds dist/ first; the example imports the package by its name, as a user would.
  expect(fs.existsSync(path.join(root, 'dist', 'index.js'))).toBe(true);
  const run = spawnSync(process.execPath, [path.join(root, 'examples', 'binding.js')], {
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, LXCTS_DEMO_BRIDGE: bridge.name },
  });
  expect(run.stderr).toBe('');
  expect(run.status).toBe(0);
  expect(run.stdout).toMatch(/^state: +RUNNING$/m);
  expect(run.stdout).toMatch(/^init pid: +\d+$/m);
  expect(run.stdout).toMatch(/^hostname: +demo-web$/m);
  expect(run.stdout).toMatch(/^exec: +Linux \(exit 0\)$/m);
  expect(run.stdout).toMatch(/^exit: +3$/m);
  expect(run.stdout).toContain('stream:   line 1\nstream:   line 2\nstream:   line 3\n');
  const ip = /^ipv4: +(\S+)$/m.exec(run.stdout)?.[1] ?? '';
  expect(bridge.leases(ip)).toBe(true);
  expect(run.stdout).toMatch(/^cpu: +\d+\.\d ms used$/m);
  expect(run.stdout).toMatch(/^after destroy, defined: false$/m);
  expect(run.stdout).toContain("new Container('../x')  -> LXC_INVALID_NAME");
  expect(run.stdout).toContain('ghost.start()          -> LXC_NOT_DEFINED');
  // The example's lxcpath is gone, and so is its container.
  const lxcpath = /lxcpath (\S+)/.exec(run.stdout)?.[1];
  expect(lxcpath && fs.existsSync(lxcpath)).toBe(false);
  expect(lxcpath && fs.existsSync(path.join('/run/lxc/lock', lxcpath))).toBe(false);
  expect(execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' })).not.toContain(`[lxc monitor] ${lxcpath}`);
});

test('without a built addon, the error names every path tried and the command that fixes it', () => {
  // A copy of dist/ with no build/ beside it: nothing to load.
  const copy = fs.mkdtempSync(path.join(os.tmpdir(), 'lxcts-noaddon-'));
  try {
    fs.cpSync(path.join(root, 'dist'), path.join(copy, 'dist'), { recursive: true });
    const script = `try { require(${JSON.stringify(path.join(copy, 'dist'))}).lxcVersion(); }
      catch (err) { console.log(err.message); process.exit(3); }`;
    const run = spawnSync(process.execPath, ['-e', script], {
      encoding: 'utf8',
      env: { ...process.env, LXCTS_ADDON_PATH: '/nonexistent/lxcts.node' },
    });
    expect(run.status).toBe(3);
    expect(run.stdout).toContain('/nonexistent/lxcts.node');
    expect(run.stdout).toContain(path.join(copy, 'build', 'Release', 'lxcts.node'));
    expect(run.stdout).toContain(path.join(copy, 'build', 'Debug', 'lxcts.node'));
    expect(run.stdout).toContain('sudo bash scripts/setup-host.sh');
  } finally {
    fs.rmSync(copy, { recursive: true, force: true });
  }
});
