/**
 * Which config keys liblxc takes, as isConfigKey() and the config calls see them: the
 * lxc.net.<index> family is checked down to its subkey, so that a key liblxc does not have
 * is refused as an unknown key, not passed to liblxc and reported as a bad value.
 */
import { isConfigKey } from '../src';
import { failureOf, Sandbox } from './helpers/sandbox';

const sandbox = new Sandbox('config-keys');
afterAll(() => sandbox.cleanup());

test('an lxc.net.N key with a subkey liblxc does not have is unknown to isConfigKey and fails the config calls with LXC_INVALID_CONFIG_KEY', async () => {
  // Never created: what it sets stays in its memory.
  const c = sandbox.container();
  await c.setConfigItem('lxc.net.0.type', 'veth');
  for (const key of ['lxc.net.0.nonsense', 'lxc.net.0.type.x', 'lxc.net.0.', 'lxc.net.0.veth', 'lxc.net.1.ipv4']) {
    expect([key, isConfigKey(key)]).toEqual([key, false]);
    expect((await failureOf(c.setConfigItem(key, 'veth'))).code).toBe('LXC_INVALID_CONFIG_KEY');
    expect((await failureOf(c.getConfigItem(key))).code).toBe('LXC_INVALID_CONFIG_KEY');
    expect((await failureOf(c.clearConfigItem(key))).code).toBe('LXC_INVALID_CONFIG_KEY');
  }
});

test('lxc.net.N with each subkey of LXC 5.0 is a known key, and liblxc takes it', async () => {
  const c = sandbox.container();
  await c.setConfigItem('lxc.net.0.type', 'veth');
  expect(isConfigKey('lxc.net.0')).toBe(true);
  const values: [string, string][] = [
    ['type', 'veth'],
    ['ipv4.address', '10.0.3.2/24'],
    ['ipv6.gateway', 'auto'],
    ['veth.pair', 'vethlxcts0'],
    ['veth.vlan.tagged.id', '5'],
    ['veth.n_rxqueues', '2'],
    ['l2proxy', '1'],
    ['script.up', '/bin/true'],
  ];
  for (const [subkey, value] of values) {
    expect([subkey, isConfigKey(`lxc.net.7.${subkey}`)]).toEqual([subkey, true]);
    await c.setConfigItem(`lxc.net.0.${subkey}`, value);
    expect(await c.getConfigItem(`lxc.net.0.${subkey}`)).toBe(value);
  }
});

test('every subkey liblxc lists for an interface of each type is a known key', async () => {
  const c = sandbox.container();
  for (const type of ['veth', 'macvlan', 'ipvlan', 'vlan', 'phys', 'empty', 'none']) {
    await c.clearConfigItem('lxc.net');
    await c.setConfigItem('lxc.net.0.type', type);
    const keys = await c.configKeys('lxc.net.0');
    expect(keys).toContain('type');
    expect(keys.filter((key) => !isConfigKey(`lxc.net.0.${key}`))).toEqual([]);
  }
});
