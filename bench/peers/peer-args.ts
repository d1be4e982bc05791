/** The peer command line of bench/peers/README.md, and the /proc readers of the memory workload. */
import * as fs from 'node:fs';
import { parseArgs } from 'node:util';

export interface PeerArgs {
  workload: string;
  lxcpath: string;
  name: string;
  iterations: number;
  warmup: number;
  concurrency: number;
  bytes: number;
  prefix: string;
}

export function parsePeerArgs(argv: string[]): PeerArgs {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      lxcpath: { type: 'string' },
      name: { type: 'string' },
      iterations: { type: 'string', default: '100' },
      warmup: { type: 'string', default: '3' },
      concurrency: { type: 'string', default: '1' },
      bytes: { type: 'string', default: '0' },
      prefix: { type: 'string', default: 'bench-clone' },
    },
  });
  const count = (key: 'iterations' | 'warmup' | 'concurrency' | 'bytes', min: number) => {
    const n = Number(values[key]);
    if (!Number.isSafeInteger(n) || n < min) throw new Error(`--${key} must be an integer ≥ ${min}, not "${values[key]}"`);
    return n;
  };
  const [workload, ...extra] = positionals;
  if (workload === undefined || extra.length > 0) throw new Error('usage: <workload> --lxcpath PATH --name NAME [options]');
  if (!values.lxcpath || !values.name) throw new Error('--lxcpath and --name are required');
  return {
    workload,
    lxcpath: values.lxcpath,
    name: values.name,
    iterations: count('iterations', 1),
    warmup: count('warmup', 0),
    concurrency: count('concurrency', 1),
    bytes: count('bytes', 0),
    prefix: values.prefix,
  };
}

/** VmRSS of a process (this one by default), in kB. */
export function rssKb(pid: number | 'self' = 'self'): number {
  const line = fs
    .readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('VmRSS:'));
  return Number(line?.split(/\s+/)[1]);
}

export function fdCount(pid: number | 'self' = 'self'): number {
  return fs.readdirSync(`/proc/${pid}/fd`).length;
}
