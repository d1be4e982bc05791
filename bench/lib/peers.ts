/**
 * The peers of bench/peers/README.md: how each is built, and how one workload is run by
 * one peer. A peer that cannot be built is reported as missing, with the reason and the
 * fix, never left out silently.
 */
import { execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';

import { BENCH_BUILD, PEERS_SRC, ROOT } from './paths';

const execFileP = promisify(execFile);

export const PEER_IDS = ['c', 'lxcts', 'go-lxc', 'python', 'tools'] as const;
export type PeerId = (typeof PEER_IDS)[number];

export const PEER_LABELS: Record<PeerId, string> = {
  c: 'C (liblxc)',
  lxcts: 'lxcts',
  'go-lxc': 'go-lxc',
  python: 'python3-lxc',
  tools: 'lxc-* tools',
};

export type Peer = { id: PeerId; command: string[]; version: string } | { id: PeerId; missing: string };

const BIN = path.join(BENCH_BUILD, 'peers');
/** Debian's python3-lxc lives in the system interpreter, not in a pyenv or venv one. */
const SYSTEM_PYTHON = '/usr/bin/python3';
const GO_PATH = `${process.env.PATH}:/usr/local/go/bin`;

async function run(file: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<string> {
  const { stdout } = await execFileP(file, args, { ...options, maxBuffer: 16 * 1024 * 1024 });
  return stdout.trim();
}

async function cc(output: string, sources: string[]): Promise<void> {
  const flags = (await run('pkg-config', ['--cflags', '--libs', 'lxc'])).split(/\s+/).filter(Boolean);
  const files = sources.map((s) => path.join(PEERS_SRC, 'c', s));
  await run('cc', ['-O2', '-Wall', '-Wextra', '-o', output, ...files, ...flags, '-lpthread']);
}

const builders: Record<PeerId, () => Promise<{ command: string[]; version: string }>> = {
  async c() {
    const out = path.join(BIN, 'lxc-peer');
    await cc(out, ['lxc-peer.c', 'peer-common.c']);
    return { command: [out], version: `liblxc ${await run('pkg-config', ['--modversion', 'lxc'])}` };
  },
  async tools() {
    const out = path.join(BIN, 'tools-peer');
    await cc(out, ['tools-peer.c', 'peer-common.c']);
    return { command: [out], version: `lxc-attach ${await run('lxc-attach', ['--version'])}` };
  },
  async lxcts() {
    const script = path.join(BENCH_BUILD, 'bench', 'peers', 'lxcts-peer.js');
    if (!fs.existsSync(script)) throw new Error(`${script} is not built (npm run bench builds it)`);
    const version = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version as string;
    return { command: [process.execPath, '--expose-gc', script], version: `lxcts ${version}, Node ${process.version}` };
  },
  async 'go-lxc'() {
    const out = path.join(BIN, 'go-lxc-peer');
    // go.mod replaces go-lxc with Debian's copy: the module proxy does not serve it.
    const pkg = await run('dpkg-query', ['-W', '-f=${Version}', 'golang-gopkg-lxc-go-lxc.v2-dev']).catch(() => {
      throw new Error("go-lxc's source is not installed (fix: apt-get install golang-gopkg-lxc-go-lxc.v2-dev, or sudo bash scripts/setup-host.sh)");
    });
    const env = { ...process.env, PATH: GO_PATH };
    await run('go', ['build', '-o', out, '.'], { cwd: path.join(PEERS_SRC, 'go'), env });
    return { command: [out], version: `go-lxc ${pkg} (Debian), ${await run('go', ['env', 'GOVERSION'], { env })}` };
  },
  async python() {
    const version = await run(SYSTEM_PYTHON, ['-c', 'import lxc, sys; print(sys.version.split()[0])']).catch(() => {
      throw new Error(`Debian's python3-lxc is not importable by ${SYSTEM_PYTHON} (fix: apt-get install python3-lxc, or sudo bash scripts/setup-host.sh)`);
    });
    const pkg = await run('dpkg-query', ['-W', '-f=${Version}', 'python3-lxc']).catch(() => 'unknown');
    return { command: [SYSTEM_PYTHON, path.join(PEERS_SRC, 'python', 'peer.py')], version: `python3-lxc ${pkg}, Python ${version}` };
  },
};

/** Builds every peer; the ones that fail come back as missing, with the reason. */
export async function buildPeers(ids: readonly PeerId[] = PEER_IDS): Promise<Peer[]> {
  fs.mkdirSync(BIN, { recursive: true });
  const peers: Peer[] = [];
  // One at a time: compilers on a two-core machine are slower side by side.
  for (const id of ids) {
    try {
      peers.push({ id, ...(await builders[id]()) });
    } catch (err) {
      const e = err as Error & { stderr?: string };
      const detail = e.stderr?.trim().split('\n').slice(-3).join(' ') || e.message;
      peers.push({ id, missing: detail });
    }
  }
  return peers;
}

export interface PeerRequest {
  workload: string;
  lxcpath: string;
  name: string;
  iterations: number;
  warmup: number;
  concurrency?: number;
  bytes?: number;
  prefix?: string;
}

export type PeerOutput = Record<string, unknown> & { unsupported?: string };

/** Runs one workload in a fresh peer process and returns what it printed. */
export function runPeer(peer: { id: PeerId; command: string[] }, request: PeerRequest, timeoutMs = 600_000): Promise<PeerOutput> {
  const args = [
    request.workload,
    '--lxcpath',
    request.lxcpath,
    '--name',
    request.name,
    '--iterations',
    String(request.iterations),
    '--warmup',
    String(request.warmup),
    '--concurrency',
    String(request.concurrency ?? 1),
    ...(request.bytes === undefined ? [] : ['--bytes', String(request.bytes)]),
    ...(request.prefix === undefined ? [] : ['--prefix', request.prefix]),
  ];
  const [command, ...commandArgs] = peer.command;
  if (command === undefined) return Promise.reject(new Error(`${peer.id}: no command to run`));
  return new Promise((resolve, reject) => {
    const child = spawn(command, [...commandArgs, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const what = `${peer.id} ${request.workload}`;
      if (code !== 0) return reject(new Error(`${what}: ${signal ?? `exit ${code}`}: ${stderr.trim().split('\n').slice(-2).join(' ') || 'no message'}`));
      const line = stdout.trim().split('\n').pop() ?? '';
      try {
        resolve(JSON.parse(line) as PeerOutput);
      } catch {
        reject(new Error(`${what}: printed no JSON result (${JSON.stringify(line.slice(0, 200))})`));
      }
    });
  });
}
