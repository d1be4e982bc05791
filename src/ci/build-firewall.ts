/**
 * What a `network: true` build can reach: the internet (where the host has it), the
 * bridge's DHCP and DNS, and nothing else. No service of the host (on any of its
 * addresses, IPv4 or IPv6), no other container on the bridge, no private, loopback,
 * link-local, CGNAT, test or multicast address.
 *
 * nftables rules keyed on the host-side names of the builds' veth devices (a prefix of
 * this data directory's own followed by the build id), so containers that are not builds
 * are untouched, and workers with other data directories (other tests, other workers on
 * the host) have their own prefix and their own tables:
 * - table bridge: frames entering from a build port get a mark; bridging to or from a
 *   build port is dropped (builds cannot talk to other containers on the bridge);
 * - table inet, input: marked packets reach the host only as DHCP requests and as DNS
 *   queries to the bridge's own addresses (plus IPv6 neighbour discovery);
 * - table inet, forward: marked packets to non-public destinations are dropped.
 *
 * Installing replaces both tables in one nft transaction: idempotent, and never a moment
 * without rules.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Destinations a build never reaches through the host (IANA special-purpose registries). */
const NON_PUBLIC_V4 = [
  '0.0.0.0/8',
  '10.0.0.0/8',
  '100.64.0.0/10',
  '127.0.0.0/8',
  '169.254.0.0/16',
  '172.16.0.0/12',
  '192.0.0.0/24',
  '192.0.2.0/24',
  '192.88.99.0/24',
  '192.168.0.0/16',
  '198.18.0.0/15',
  '198.51.100.0/24',
  '203.0.113.0/24',
  '224.0.0.0/4',
  '240.0.0.0/4',
];
const NON_PUBLIC_V6 = ['::/127', '::ffff:0:0/96', '64:ff9b:1::/48', '100::/64', '2001::/23', '2001:db8::/32', 'fc00::/7', 'fe80::/10', 'fec0::/10', 'ff00::/8'];

export interface BuildFirewall {
  /** Name of our tables (one bridge, one inet). */
  table: string;
  /** Host-side veth names of this data directory's builds start with it. */
  prefix: string;
  /** Packet mark of frames from build ports. */
  mark: number;
}

/** The firewall identity of a data directory: the same every time for the same directory. */
export function buildFirewallFor(dataRoot: string): BuildFirewall {
  const hash = createHash('sha256').update(fs.realpathSync(dataRoot)).digest();
  const hex = hash.toString('hex');
  return {
    table: `lxcts_${hex.slice(0, 8)}`,
    prefix: `lxb${hex.slice(0, 5)}`,
    // One fixed high byte marks "ours"; the rest tells data directories apart.
    mark: (0x4c << 24) | hash.readUIntBE(5, 3),
  };
}

/** The host-side veth name of a build: at most 15 characters, as the kernel requires. */
export function buildInterface(firewall: BuildFirewall, buildId: number): string {
  const name = `${firewall.prefix}${buildId.toString(36)}`;
  if (name.length > 15) throw new Error(`build id ${buildId} is too large for an interface name`);
  return name;
}

const INTERFACE = /^[A-Za-z0-9_.-]{1,15}$/;

/** The addresses of a host interface (none when it does not exist). */
async function addressesOf(device: string): Promise<string[]> {
  try {
    const { stdout } = await run('ip', ['-j', 'addr', 'show', 'dev', device]);
    const links = JSON.parse(stdout) as Array<{ addr_info?: Array<{ local?: string }> }>;
    return links
      .flatMap((l) => l.addr_info ?? [])
      .map((a) => a.local ?? '')
      .filter((a) => net.isIP(a) !== 0);
  } catch {
    return [];
  }
}

export function rulesetFor(firewall: BuildFirewall, bridge: string, bridgeAddresses: string[]): string {
  if (!INTERFACE.test(bridge)) throw new Error(`invalid bridge name: ${JSON.stringify(bridge)}`);
  const { table, prefix } = firewall;
  const mark = `0x${firewall.mark.toString(16)}`;
  const ports = `"${prefix}*"`;
  const v4 = bridgeAddresses.filter((a) => net.isIPv4(a));
  const v6 = bridgeAddresses.filter((a) => net.isIPv6(a));
  const dns = [
    v4.length ? `    iifname "${bridge}" ip daddr { ${v4.join(', ')} } meta l4proto { tcp, udp } th dport 53 accept` : '',
    v6.length ? `    iifname "${bridge}" ip6 daddr { ${v6.join(', ')} } meta l4proto { tcp, udp } th dport 53 accept` : '',
  ].filter(Boolean);
  return [
    // "add" then "delete" makes the delete succeed whether or not the table was there.
    `add table bridge ${table}`,
    `delete table bridge ${table}`,
    `add table inet ${table}`,
    `delete table inet ${table}`,
    `table bridge ${table} {`,
    '  chain prerouting {',
    '    type filter hook prerouting priority -200; policy accept;',
    `    iifname ${ports} meta mark set ${mark}`,
    '  }',
    '  chain forward {',
    '    type filter hook forward priority 0; policy accept;',
    `    iifname ${ports} drop`,
    `    oifname ${ports} drop`,
    '  }',
    '}',
    `table inet ${table} {`,
    '  chain input {',
    '    type filter hook input priority 0; policy accept;',
    `    meta mark != ${mark} accept`,
    `    iifname "${bridge}" udp sport 68 udp dport 67 accept`,
    ...dns,
    `    iifname "${bridge}" icmpv6 type { nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert } accept`,
    '    drop',
    '  }',
    '  chain forward {',
    '    type filter hook forward priority 0; policy accept;',
    `    meta mark != ${mark} accept`,
    `    ip daddr { ${NON_PUBLIC_V4.join(', ')} } drop`,
    `    ip6 daddr { ${NON_PUBLIC_V6.join(', ')} } drop`,
    '  }',
    '}',
    '',
  ].join('\n');
}

async function nft(script: string): Promise<void> {
  const nftRun = run('nft', ['-f', '-']);
  nftRun.child.stdin!.end(script);
  await nftRun.catch((err: NodeJS.ErrnoException & { stderr?: string }) => {
    throw new Error(
      err.code === 'ENOENT'
        ? 'nft is not installed: network: true needs nftables (scripts/setup-host.sh installs it)'
        : `nft refused the build firewall: ${err.stderr?.trim() || err.message}`,
    );
  });
}

/** Installs (or refreshes: the bridge's addresses may have changed) the rules. */
export async function installBuildFirewall(firewall: BuildFirewall, bridge: string): Promise<void> {
  await nft(rulesetFor(firewall, bridge, await addressesOf(bridge)));
}

/** Removes the rules of a data directory (tests; an operator retiring a worker). */
export async function removeBuildFirewall(firewall: BuildFirewall): Promise<void> {
  await nft(
    [
      `add table bridge ${firewall.table}`,
      `delete table bridge ${firewall.table}`,
      `add table inet ${firewall.table}`,
      `delete table inet ${firewall.table}`,
      '',
    ].join('\n'),
  );
}
