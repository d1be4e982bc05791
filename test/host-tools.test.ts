/**
 * A fresh machine has only what scripts/setup-host.sh installs. Every program lxcts, its
 * tests, the bench or liblxc runs must come from a package in that script's list (or from
 * Debian's essential set), and be here: otherwise this says which package is missing.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { missingToolSuggestion, onPath } from '../src/lxc/missing-tools';
import { lxcts } from './helpers/cli';
import { ROOT } from './helpers/root';
import { Sandbox } from './helpers/sandbox';

/** Programs run by the code, the tests, the bench or liblxc, and the package of each (as listed in setup-host.sh). */
const TOOLS: Record<string, string> = {
  'lxc-create': 'lxc',
  'lxc-attach': 'lxc',
  rsync: 'rsync', // liblxc copies directory-backed containers with it
  busybox: 'busybox-static',
  'pkg-config': 'pkg-config',
  'g++': 'build-essential:g++', // a metapackage: listed package, then the one shipping it
  make: 'build-essential:make',
  git: 'git',
  tmux: 'tmux',
  debootstrap: 'debootstrap',
  dnsmasq: 'dnsmasq-base',
  nft: 'nftables',
  iptables: 'iptables',
  ip: 'iproute2',
  newuidmap: 'uidmap',
  openssl: 'openssl', // the README's secret
  curl: 'curl',
  python3: 'python3',
  'mkfs.ext4': 'e2fsprogs', // the CI's per-build scratch filesystem (the disk limit)
  losetup: 'mount',
  'clang-format': 'clang-format', // npm run lint checks the addon's C++ layout
  vagrant: 'vagrant', // vagrant validate on vagrant/Vagrantfile (test/unit/project-files.test.ts)
};

/** Debian's essential packages are on every installation; nothing needs to install them. */
const ESSENTIAL = new Set(['coreutils', 'util-linux', 'grep', 'sed', 'tar', 'bash', 'e2fsprogs', 'mount']);

function setupHostPackages(): Set<string> {
  const script = fs.readFileSync(path.join(ROOT, 'scripts', 'setup-host.sh'), 'utf8');
  const [, list] = /^packages=\(([^)]*)\)/m.exec(script) ?? [];
  if (list === undefined) throw new Error('scripts/setup-host.sh has no packages=(...) list');
  return new Set(list.split(/\s+/).filter(Boolean));
}

describe('the host has every program lxcts runs', () => {
  const packages = setupHostPackages();

  test.each(Object.entries(TOOLS))('%s (package %s) is installed by setup-host.sh and on the PATH', (command, packageNames) => {
    const [pkg = packageNames, shippedBy = pkg] = packageNames.split(':');
    if (!packages.has(pkg) && !ESSENTIAL.has(pkg)) throw new Error(`scripts/setup-host.sh does not install ${pkg} (for ${command})`);
    if (!onPath(command)) throw new Error(`${command} is missing: apt-get install ${pkg} (or run scripts/setup-host.sh)`);
    // The package named is installed and really ships the program (a wrong name here would
    // send a newcomer to install the wrong thing).
    const files = execFileSync('dpkg-query', ['-L', shippedBy], { encoding: 'utf8' }).split('\n');
    expect(files.filter((f) => f.endsWith(`/${command}`)).length).toBeGreaterThan(0);
  });
});

describe('a liblxc failure caused by a missing program names the package', () => {
  const sandbox = new Sandbox('tools');
  afterAll(() => sandbox.cleanup());

  test('cloning a directory-backed container without rsync suggests installing rsync', async () => {
    const source = await sandbox.busybox();
    await source.release();
    // liblxc looks rsync up on the PATH of the process that clones: give the CLI none.
    const run = lxcts(sandbox.lxcpath, ['clone', source.name, sandbox.name('copy'), '--json'], { env: { PATH: '/nonexistent' } });
    expect(run.status).toBe(1);
    const { error } = run.json() as { error: { code: string; suggestion: string } };
    expect(error.code).toBe('LXC_CLONE_FAILED');
    expect(error.suggestion).toMatch(/apt-get install rsync/);
  });

  test('the same log lines suggest nothing about rsync when rsync is there (it failed for another reason)', () => {
    const details = ['lxc s1 20261204164538.159 ERROR    rsync - ../src/lxc/storage/rsync.c:lxc_rsync:107 - Failed to rsync from "/a" into "/b"'];
    expect(missingToolSuggestion(details, '/nonexistent')).toMatch(/apt-get install rsync/);
    expect(missingToolSuggestion(details, path.dirname(fs.realpathSync(execFileSync('which', ['rsync'], { encoding: 'utf8' }).trim())))).toBeUndefined();
  });
});
