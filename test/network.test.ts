import { Container } from '../src';
import { TestBridge } from './helpers/bridge';
import { failureOf, Sandbox } from './helpers/sandbox';
import { at, must } from './helpers/must';
import { reapedChildFaults } from './helpers/procfs';

const network = new TestBridge('net');
const sandbox = new Sandbox('network');

beforeAll(() => network.up());
afterAll(async () => {
  await sandbox.cleanup();
  await network.down();
});

async function bridged(): Promise<Container> {
  const c = sandbox.container();
  await c.clearConfigItem('lxc.net');
  await c.setConfigItem('lxc.net.0.type', 'veth');
  await c.setConfigItem('lxc.net.0.link', network.name);
  await c.setConfigItem('lxc.net.0.flags', 'up');
  await c.setConfigItem('lxc.net.0.name', 'eth0');
  await c.create({ template: 'busybox' });
  await c.start();
  return c;
}

test('a container on a bridge obtains an address by DHCP and reports it, its interfaces and its traffic', async () => {
  const c = await bridged();
  // busybox's init runs udhcpc: the address appears after start, so wait for it.
  const ip = at(await c.ipAddresses({ family: 'inet', timeout: 30 }), 0);
  expect(network.leases(ip)).toBe(true);
  const faults = reapedChildFaults();
  expect(await c.ipAddresses({ family: 'inet', interface: 'eth0' })).toEqual([ip]);
  expect(await c.ipAddresses({ interface: 'nosuch0' })).toEqual([]);
  // Link-local IPv6 is not a global address.
  expect(await c.ipAddresses({ family: 'inet6' })).toEqual([]);
  expect((await c.interfaces()).sort()).toEqual(['eth0', 'lo']);
  // The reads entered the container's network namespace from a thread (as root) or a
  // process of the lifecycle server, not from a fork of Node.
  expect(reapedChildFaults()).toBe(faults);
  const before = await c.interfaceStats();
  const ping = await c.exec(['/bin/ping', '-c', '2', '-W', '2', network.hostAddress]);
  expect(ping.exitCode).toBe(0);
  const after = await c.interfaceStats();
  const [eth0Before, eth0After] = [must(before.eth0, 'eth0 before the ping'), must(after.eth0, 'eth0 after the ping')];
  expect(eth0After.txBytes).toBeGreaterThan(eth0Before.txBytes);
  expect(eth0After.rxBytes).toBeGreaterThan(eth0Before.rxBytes);
});

test('waiting for an address that never comes fails with LXC_TIMEOUT', async () => {
  const c = await sandbox.busybox();
  await c.start();
  const err = await failureOf(c.ipAddresses({ timeout: 0.5 }));
  expect(err.code).toBe('LXC_TIMEOUT');
  expect(await failureOf(c.ipAddresses({ family: 'ipx' as never }))).toBeInstanceOf(TypeError);
});
