/**
 * What a `network: true` build reaches, tried from inside real builds on a test bridge of
 * our own (with its own DHCP server): its lease, and none of the host's services (on the
 * bridge address or any other host address) nor anything else on the bridge.
 */
import { ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';

import { buildFirewallFor, buildInterface, removeBuildFirewall, rulesetFor } from '../src/ci/build-firewall';
import { CiSandbox } from './helpers/ci-data';
import { TestBridge } from './helpers/bridge';
import { TestRepo } from './helpers/repo';
import { at, must } from './helpers/must';

const run = promisify(execFile);
const ci = new CiSandbox('network');
const bridge = new TestBridge('net');
const firewall = buildFirewallFor(ci.data.root);
/** A network namespace on the bridge with a static address: "another container". */
const neighbour = { ns: `lxtn${process.pid}`, host: `lxtn${process.pid}h`.slice(0, 15), address: '' };
let neighbourServer: ChildProcess | undefined;
let hostServer: net.Server;
let hostConnections = 0;
const PORT = 20_000 + (process.pid % 20_000);

function quiet(cmd: string, args: string[]): void {
  try {
    execFileSync(cmd, args, { stdio: 'ignore' });
  } catch {
    // already gone
  }
}

beforeAll(async () => {
  bridge.up();
  neighbour.address = `${bridge.subnet}.20`;
  execFileSync('ip', ['netns', 'add', neighbour.ns]);
  execFileSync('ip', ['link', 'add', neighbour.host, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', neighbour.ns]);
  execFileSync('ip', ['link', 'set', neighbour.host, 'master', bridge.name, 'up']);
  execFileSync('ip', ['-n', neighbour.ns, 'addr', 'add', `${neighbour.address}/24`, 'dev', 'eth0']);
  execFileSync('ip', ['-n', neighbour.ns, 'link', 'set', 'eth0', 'up']);
  const server = `require('net').createServer((s) => s.end('neighbour\\n')).listen(${PORT}, '0.0.0.0', () => console.log('ready'))`;
  neighbourServer = spawn('ip', ['netns', 'exec', neighbour.ns, process.execPath, '-e', server], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((resolve) => neighbourServer!.stdout!.once('data', resolve));
  // A host service listening on every address, as nsqd, the receiver or sshd do.
  hostServer = net.createServer((socket) => {
    hostConnections++;
    socket.end('host\n');
  });
  await new Promise<void>((resolve) => hostServer.listen(PORT, '0.0.0.0', resolve));
});

afterAll(async () => {
  await removeBuildFirewall(firewall).catch(() => undefined);
  neighbourServer?.kill('SIGKILL');
  quiet('ip', ['netns', 'delete', neighbour.ns]);
  quiet('ip', ['link', 'delete', neighbour.host]);
  await new Promise((resolve) => hostServer?.close(resolve));
  await bridge.down();
  ci.cleanup();
});

/** A host address that is not on the test bridge (e.g. the uplink's), if the host has one. */
function otherHostAddress(): string | undefined {
  return Object.entries(os.networkInterfaces())
    .filter(([name]) => name !== bridge.name)
    .flatMap(([, addresses]) => addresses ?? [])
    .find((a) => a.family === 'IPv4' && !a.internal)?.address;
}

const tryConnect = (target: string) =>
  `if busybox nc -w 3 ${target} ${PORT} </dev/null | grep -q .; then echo "REACHED ${target}"; else echo "blocked ${target}"; fi`;

test('a network: true build gets its lease and reaches no host service and nothing else on the bridge', async () => {
  const targets = [bridge.hostAddress, neighbour.address, otherHostAddress()].filter((t): t is string => t !== undefined);
  const steps = [
    'busybox ip -4 -o addr show dev eth0',
    ...targets.map(tryConnect),
    `if busybox ping -c 1 -W 2 ${bridge.hostAddress} >/dev/null; then echo "REACHED ping"; else echo "blocked ping"; fi`,
  ];
  const repo = TestRepo.create(
    path.join(ci.data.root, 'repos', 'net'),
    `jobs:\n  online:\n    network: true\n    steps:\n${steps.map((s) => `      - ${JSON.stringify(s)}\n`).join('')}`,
  );
  const r = at(await ci.builder({ bridge: bridge.name }).build({ source: repo.dir }), 0);
  const log = fs.readFileSync(must(r.logPath, 'the build log'), 'utf8');
  expect(r.status).toBe('success');
  // DHCP went through: the build has an address from the bridge's DHCP server.
  const leased = /inet (\d+\.\d+\.\d+\.\d+)\//.exec(log)?.[1];
  expect(leased && bridge.leases(leased)).toBe(true);
  expect(log).not.toMatch(/^REACHED/m);
  for (const target of targets) expect(log).toMatch(new RegExp(`^blocked ${target.replace(/\./g, '\\.')}$`, 'm'));
  expect(log).toMatch(/^blocked ping$/m);
  expect(hostConnections).toBe(0);
  // The rules are installed under this data directory's own table, keyed on its own prefix.
  const table = execFileSync('nft', ['list', 'table', 'inet', firewall.table], { encoding: 'utf8' });
  expect(table).toContain(`"${bridge.name}"`);
  expect(execFileSync('nft', ['list', 'table', 'bridge', firewall.table], { encoding: 'utf8' })).toContain(`iifname "${firewall.prefix}*"`);
});

test('containers that are not builds are untouched: the neighbour still reaches the host service', async () => {
  // The rules exist (the test above installed them), yet they key on build ports only.
  execFileSync('nft', ['list', 'table', 'inet', firewall.table], { stdio: 'ignore' });
  const before = hostConnections;
  // Asynchronously: the server answering is in this process.
  const { stdout } = await run('ip', ['netns', 'exec', neighbour.ns, 'busybox', 'nc', '-w', '3', bridge.hostAddress, String(PORT)], { timeout: 10_000 });
  expect(stdout).toBe('host\n');
  expect(hostConnections).toBe(before + 1);
});

test('installing twice leaves one table of each family; another data directory gets its own prefix and table', async () => {
  const builder = ci.builder({ bridge: bridge.name });
  const repo = TestRepo.create(path.join(ci.data.root, 'repos', 'twice'), 'jobs:\n  a:\n    network: true\n    steps: ["true"]\n');
  await builder.build({ source: repo.dir });
  const tables = execFileSync('nft', ['list', 'tables'], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => l.endsWith(` ${firewall.table}`));
  expect(tables.sort()).toEqual([`table bridge ${firewall.table}`, `table inet ${firewall.table}`]);

  const other = buildFirewallFor(os.tmpdir());
  expect(other.prefix).not.toBe(firewall.prefix);
  expect(other.table).not.toBe(firewall.table);
  expect(buildInterface(firewall, 1_000_000).length).toBeLessThanOrEqual(15);
});

test('a bridge name that would smuggle rules into nft is refused', () => {
  expect(() => rulesetFor(firewall, 'lxcbr0" accept; flush ruleset; #', [])).toThrow(/invalid bridge name/);
});
