import { ChildProcess, execFileSync, spawn } from 'node:child_process';

import { Container } from '../src';
import { failureOf, Sandbox } from './helpers/sandbox';

// A bridge of this test's own with its own DHCP server and no route anywhere: containers
// on it reach this machine's bridge address and nothing else. 198.18.0.0/15 is reserved
// for network tests.
const bridge = `lxcts${process.pid % 100000}`;
const subnet = `198.18.${process.pid % 250}`;
const sandbox = new Sandbox('network');
let dhcp: ChildProcess | undefined;

beforeAll(() => {
  execFileSync('ip', ['link', 'add', bridge, 'type', 'bridge']);
  execFileSync('ip', ['addr', 'add', `${subnet}.1/24`, 'dev', bridge]);
  execFileSync('ip', ['link', 'set', bridge, 'up']);
  dhcp = spawn('dnsmasq', [
    '--keep-in-foreground', '--conf-file=/dev/null', '--port=0', '--user=root',
    '--bind-interfaces', `--interface=${bridge}`, '--except-interface=lo', `--listen-address=${subnet}.1`,
    `--dhcp-range=${subnet}.50,${subnet}.99`, `--dhcp-leasefile=${sandbox.lxcpath}/leases`,
    `--pid-file=${sandbox.lxcpath}/dnsmasq.pid`,
  ], { stdio: 'ignore' });
});
afterAll(async () => {
  await sandbox.cleanup();
  dhcp?.kill('SIGKILL');
  execFileSync('ip', ['link', 'delete', bridge]);
});

async function bridged(): Promise<Container> {
  const c = sandbox.container();
  await c.clearConfigItem('lxc.net');
  await c.setConfigItem('lxc.net.0.type', 'veth');
  await c.setConfigItem('lxc.net.0.link', bridge);
  await c.setConfigItem('lxc.net.0.flags', 'up');
  await c.setConfigItem('lxc.net.0.name', 'eth0');
  await c.create({ template: 'busybox' });
  await c.start();
  return c;
}

test('a container on a bridge obtains an address by DHCP and reports it, its interfaces and its traffic', async () => {
  const c = await bridged();
  // busybox's init runs udhcpc: the address appears after start, so wait for it.
  const [ip] = await c.ipAddresses({ family: 'inet', timeout: 30 });
  expect(ip).toMatch(new RegExp(`^${subnet.replace(/\./g, '\\.')}\\.(5\\d|[6-9]\\d)$`));
  expect(await c.ipAddresses({ family: 'inet', interface: 'eth0' })).toEqual([ip]);
  expect(await c.ipAddresses({ interface: 'nosuch0' })).toEqual([]);
  // Link-local IPv6 is not a global address.
  expect(await c.ipAddresses({ family: 'inet6' })).toEqual([]);
  expect((await c.interfaces()).sort()).toEqual(['eth0', 'lo']);
  const before = await c.interfaceStats();
  const ping = await c.exec(['/bin/ping', '-c', '2', '-W', '2', `${subnet}.1`]);
  expect(ping.exitCode).toBe(0);
  const after = await c.interfaceStats();
  expect(after.eth0.txBytes).toBeGreaterThan(before.eth0.txBytes);
  expect(after.eth0.rxBytes).toBeGreaterThan(before.eth0.rxBytes);
});

test('waiting for an address that never comes fails with LXC_TIMEOUT', async () => {
  const c = await sandbox.busybox();
  await c.start();
  const err = await failureOf(c.ipAddresses({ timeout: 0.5 }));
  expect(err.code).toBe('LXC_TIMEOUT');
  expect(await failureOf(c.ipAddresses({ family: 'ipx' as never }))).toBeInstanceOf(TypeError);
});
