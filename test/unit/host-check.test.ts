/**
 * @tier unit
 * The DNS rebinding guard's reading of Host headers and --allowed-host values.
 */
import { allowedHostName, ANY_HOST, hostAllowed, hostName } from '../../src/server/host-check';

test('Host values are read to a lower-case name without port, brackets or trailing dot, and junk is no host', () => {
  expect(hostName('CI.Example.ORG.:8443')).toBe('ci.example.org');
  expect(hostName('[::1]:8090')).toBe('::1');
  expect(hostName('127.0.0.1')).toBe('127.0.0.1');
  for (const junk of ['', 'a b', 'evil@127.0.0.1', '[evil]:80', '[::1', 'host:port', 'host:123456', '::1'])
    expect({ junk, name: hostName(junk) }).toEqual({ junk, name: null });
});

test('IP literals, localhost and the allowed names pass; other names and junk do not; * lets all through', () => {
  const allowed = new Set(['ci.example.org']);
  for (const host of ['127.0.0.1:8090', '10.0.0.5:8090', '[::1]:8090', 'localhost:8090', 'ci.example.org', 'CI.example.org:443', undefined]) {
    expect({ host, ok: hostAllowed(host, allowed) }).toEqual({ host, ok: true });
  }
  for (const host of ['evil.example:8090', 'localhost.evil.example', 'ci.example.org.evil.example', '127.0.0.1.nip.io', 'x@127.0.0.1', '']) {
    expect({ host, ok: hostAllowed(host, allowed) }).toEqual({ host, ok: false });
  }
  expect(hostAllowed('evil.example', new Set([ANY_HOST]))).toBe(true);
});

test('--allowed-host takes names, names with a port, IP addresses and *, and refuses the rest with a sentence', () => {
  expect(allowedHostName('CI.example.org:8443')).toBe('ci.example.org');
  expect(allowedHostName('*')).toBe('*');
  expect(allowedHostName('[fe80::1]')).toBe('fe80::1');
  for (const bad of ['evil/name', 'a..b', '.a', '*.example.org', `${'a'.repeat(64)}.org`, '']) {
    expect(() => allowedHostName(bad)).toThrow(/is not a host name/);
  }
});
