/**
 * Which clone URLs the CI fetches from. A push event names its clone URL, and git would
 * otherwise fetch whatever it is told: an option (`-u=...`), a local path (the CI's own
 * checkout), a host on the worker's network (nsqd's HTTP port).
 *
 * Accepted by default: https://, ssh:// and scp-like user@host:path, git://. Local paths and
 * file:// only under directories the operator allows; hosts that are, or resolve to, a
 * loopback, private, link-local, CGNAT, unspecified, reserved or multicast address only when
 * the operator allows private hosts.
 */
import * as dns from 'node:dns';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

export class RefusedSourceError extends Error {
  readonly code = 'REFUSED_SOURCE';
  constructor(message: string) {
    super(message);
    this.name = 'RefusedSourceError';
  }
}

export interface SourcePolicy {
  /** Directories local repositories may be under, or 'any' (the operator's own `ci build PATH`). */
  allowLocal: string[] | 'any';
  /** Fetch from loopback and private addresses too (a git server on the LAN). */
  allowPrivateHosts: boolean;
}

export const STRICT_POLICY: SourcePolicy = { allowLocal: [], allowPrivateHosts: false };

export type Transport = 'https' | 'ssh' | 'git' | 'file';

/** A clone URL as parsed, before the policy is applied. */
export interface ParsedCloneUrl {
  transport: Transport;
  /** What git is given: the normalised URL, or the absolute path. */
  url: string;
  /** Host name or IP literal (no brackets), for network transports. */
  host: string | null;
  /** Port git will connect to, for https (for pinning the address curl uses). */
  port: number | null;
  /** Absolute path, for local repositories. */
  path: string | null;
}

// A DNS host name or an IPv4 literal; IPv6 literals are checked with net.isIPv6.
const HOSTNAME = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;
// RFC 3986's characters, without "\" (parsers disagree on it) and without spaces or controls.
const URL_CHARACTERS = /^[A-Za-z0-9._~:/?#[\]@!$&'()*+,;=%-]+$/;
// A path git receives: no control characters, nothing git would take as an option or a
// transport ("ext::", "fd::").
// eslint-disable-next-line no-control-regex
const UNSAFE_PATH = /[\x00-\x1f\x7f]|::/;

function refuse(message: string): never {
  throw new RefusedSourceError(message);
}

function checkHost(host: string, url: string): string {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (!(net.isIPv6(bare) || HOSTNAME.test(bare))) refuse(`clone URL ${JSON.stringify(url)}: ${JSON.stringify(host)} is not a host name`);
  return bare;
}

/**
 * Parses a clone URL without touching the network or the disk: what the receiver can check
 * at once (it answers 422 for what fails here). Throws RefusedSourceError.
 */
export function parseCloneUrl(source: string): ParsedCloneUrl {
  const shown = JSON.stringify(source.slice(0, 200));
  if (source === '') refuse('the clone URL is empty');
  if (source.startsWith('-')) refuse(`clone URL ${shown} starts with "-"`);
  if (source.length > 4096) refuse('the clone URL is longer than 4096 characters');
  // git's <transport>::<address> form (ext::, fd::) runs commands or uses descriptors.
  if (/^[A-Za-z][A-Za-z0-9+.-]*::/.test(source)) refuse(`clone URL ${shown}: git's <transport>:: syntax is not accepted`);
  if (source.startsWith('/')) {
    if (UNSAFE_PATH.test(source)) refuse(`local path ${shown} has control characters or "::"`);
    return { transport: 'file', url: path.resolve(source), host: null, port: null, path: path.resolve(source) };
  }
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(source)?.[1]?.toLowerCase();
  if (scheme !== undefined) {
    if (!URL_CHARACTERS.test(source)) refuse(`clone URL ${shown} has characters a URL cannot have`);
    let url: URL;
    try {
      url = new URL(source);
    } catch {
      refuse(`clone URL ${shown} is not a URL`);
    }
    if (scheme === 'file') {
      if (url.host !== '') refuse(`clone URL ${shown}: file:// URLs name no host`);
      const file = fileURLToPath(url);
      if (UNSAFE_PATH.test(file)) refuse(`local path ${shown} has control characters or "::"`);
      return { transport: 'file', url: path.resolve(file), host: null, port: null, path: path.resolve(file) };
    }
    if (scheme !== 'https' && scheme !== 'ssh' && scheme !== 'git') {
      refuse(`clone URL ${shown}: the ${scheme}:// transport is not accepted (https, ssh, git, or an allowed local path)`);
    }
    if (url.hostname === '') refuse(`clone URL ${shown} names no host`);
    if (url.username.startsWith('-')) refuse(`clone URL ${shown}: the user name starts with "-"`);
    const host = checkHost(url.hostname, source);
    const port = scheme === 'https' ? Number(url.port || 443) : null;
    return { transport: scheme, url: url.href, host, port, path: null };
  }
  // scp-like syntax, as git reads it: [user@]host:path with no "/" before the first ":".
  const scp = /^(?:([^@/:]+)@)?(\[[^\]/]+\]|[^@/:[\]]+):(.*)$/s.exec(source);
  if (scp) {
    const [, user, host = '', rest = ''] = scp;
    if (!URL_CHARACTERS.test(source)) refuse(`clone URL ${shown} has characters a URL cannot have`);
    if (user?.startsWith('-')) refuse(`clone URL ${shown}: the user name starts with "-"`);
    if (rest === '' || UNSAFE_PATH.test(rest)) refuse(`clone URL ${shown} has no path, or "::" in it`);
    return { transport: 'ssh', url: source, host: checkHost(host, source), port: null, path: null };
  }
  if (source.includes('::')) refuse(`clone URL ${shown}: git's <transport>:: syntax is not accepted`);
  refuse(`clone URL ${shown} is neither a URL (https, ssh, git), user@host:path, nor an absolute path`);
}

// Addresses a build request must not make the worker's git connect to (SSRF). net.BlockList
// does the matching; the list is IANA's special-purpose registries, minus the global ones.
const PRIVATE = new net.BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8], // "this network", unspecified
  ['10.0.0.0', 8],
  ['100.64.0.0', 10], // CGNAT
  ['127.0.0.0', 8],
  ['169.254.0.0', 16], // link-local (and cloud metadata services)
  ['172.16.0.0', 12],
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.168.0.0', 16],
  ['198.18.0.0', 15], // benchmarking
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, and the broadcast address
] as const) {
  PRIVATE.addSubnet(network, prefix, 'ipv4');
}
for (const [network, prefix] of [
  ['::', 128], // unspecified
  ['::1', 128],
  ['fc00::', 7], // unique local
  ['fe80::', 10], // link-local
  ['fec0::', 10], // site-local (deprecated, still routed by some)
  ['ff00::', 8], // multicast
] as const) {
  PRIVATE.addSubnet(network, prefix, 'ipv6');
}

/** The IPv4 address an IPv6 address carries (IPv4-mapped, IPv4-compatible, NAT64), if any. */
function embeddedIPv4(address: string): string | null {
  const lower = address.toLowerCase();
  const dotted = /^(?:::ffff:|::|64:ff9b::)(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
  if (dotted?.[1] !== undefined) return dotted[1];
  const [, highHex, lowHex] = /^(?:::ffff:|64:ff9b::)([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(lower) ?? [];
  if (highHex !== undefined && lowHex !== undefined) {
    const high = parseInt(highHex, 16);
    const low = parseInt(lowHex, 16);
    return [high >> 8, high & 255, low >> 8, low & 255].join('.');
  }
  return null;
}

export function isPrivateAddress(address: string): boolean {
  if (net.isIPv4(address)) return PRIVATE.check(address, 'ipv4');
  if (!net.isIPv6(address)) return true; // not an address: refuse rather than guess
  const v4 = embeddedIPv4(address);
  if (v4 !== null) return PRIVATE.check(v4, 'ipv4');
  return PRIVATE.check(address, 'ipv6');
}

/** A clone URL the policy accepts, ready for git. */
export interface CheckedSource extends ParsedCloneUrl {
  /** The addresses the host resolved to (empty for local paths): for pinning https. */
  addresses: string[];
}

/** Whether `file` is `dir` or below it (both real paths). */
function isInside(dir: string, file: string): boolean {
  const relative = path.relative(dir, file);
  return relative === '' || (!relative.startsWith('..') && !path.isAbsolute(relative));
}

/**
 * The real path of `file`, resolving symlinks as far as the path exists (the rest is kept
 * as written, normalised: git will then fail on a missing repository, which is retried).
 */
function realPathOf(file: string): string {
  const missing: string[] = [];
  let existing = path.resolve(file);
  for (;;) {
    try {
      return path.join(fs.realpathSync(existing), ...missing.reverse());
    } catch {
      const parent = path.dirname(existing);
      if (parent === existing) return path.resolve(file);
      missing.push(path.basename(existing));
      existing = parent;
    }
  }
}

/**
 * Applies the policy: local paths must be under an allowed directory (after resolving
 * symlinks); a host must not be, or resolve to, any private address unless allowed.
 * Throws RefusedSourceError; a failed DNS lookup is a plain Error (retried by workers).
 */
export async function checkCloneUrl(source: string, policy: SourcePolicy): Promise<CheckedSource> {
  const parsed = parseCloneUrl(source);
  if (parsed.transport === 'file') {
    const real = realPathOf(parsed.path!);
    if (policy.allowLocal !== 'any') {
      const allowed = policy.allowLocal.map(realPathOf);
      if (!allowed.some((dir) => isInside(dir, real))) {
        refuse(
          allowed.length === 0
            ? `local repository ${real} refused: this worker allows no local paths (start it with --allow-local DIR)`
            : `local repository ${real} refused: it is not under an allowed directory (${allowed.join(', ')})`,
        );
      }
    }
    return { ...parsed, url: real, path: real, addresses: [] };
  }
  const host = parsed.host!;
  let addresses: string[];
  try {
    addresses = (await dns.promises.lookup(host, { all: true, verbatim: true })).map((a) => a.address);
  } catch (err) {
    throw new Error(`cannot resolve ${host}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if (!policy.allowPrivateHosts) {
    const bad = addresses.filter(isPrivateAddress);
    if (bad.length > 0 || addresses.length === 0) {
      refuse(
        `clone URL host ${host} refused: it is or resolves to a loopback, private, link-local or otherwise non-public address ` +
          `(${bad.join(', ') || 'none'}); refused unless --allow-private-hosts`,
      );
    }
  }
  return { ...parsed, addresses };
}
