/**
 * The lxcts peer: the workloads of bench/peers/README.md through lxcts's public Promise
 * API, as an application would use it. "In flight" here means promises, not threads: one
 * Node thread drives them all.
 *
 *   node bench/out/bench/peers/lxcts-peer.js <workload> --lxcpath P --name N [options]
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { getHeapSpaceStatistics } from 'node:v8';

import { Container } from '../../src';
import { native } from '../../src/lxc/native';
import { fdCount, parsePeerArgs, PeerArgs, rssKb } from './peer-args';

type Op = (i: number) => Promise<void>;

/** Runs `count` operations, `concurrency` at a time; returns each one's milliseconds. */
async function timed(count: number, concurrency: number, op: Op, first = 0): Promise<{ samples: number[]; wallMs: number }> {
  const samples: number[] = [];
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < count; i = next++) {
      const t0 = performance.now();
      await op(first + i);
      samples.push(performance.now() - t0);
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return { samples, wallMs: performance.now() - t0 };
}

async function warmedUp(args: PeerArgs, op: Op): Promise<{ samples: number[]; wallMs: number }> {
  await timed(args.warmup, args.concurrency, op);
  return timed(args.iterations, args.concurrency, op, args.warmup);
}

function checkExit(result: { exitCode: number | null; signal: string | null }, what: string): void {
  if (result.exitCode !== 0) throw new Error(`${what} ended with ${result.signal ?? `exit status ${result.exitCode}`}`);
}

function execTrue(c: Container): Op {
  return async () => checkExit(await c.exec(['/bin/true']), '/bin/true');
}

function execOutput(c: Container, bytes: number): Op {
  return async () => {
    const proc = await c.spawn(['head', '-c', String(bytes), '/dev/zero']);
    proc.stderr.resume();
    let got = 0;
    for await (const chunk of proc.stdout) got += (chunk as Buffer).length;
    checkExit(await proc.wait(), 'head');
    if (got !== bytes) throw new Error(`read ${got} bytes of stdout, expected ${bytes}`);
  };
}

/** One overlay snapshot clone of `base`, started, stopped and destroyed; phases timed. */
function lifecycleOp(base: Container, prefix: string, lxcpath: string, phases: Record<string, number[]>): Op {
  return async (i) => {
    const mark = (phase: string, t0: number) => (phases[phase] ??= []).push(performance.now() - t0);
    let t = performance.now();
    const clone = await base.clone(`${prefix}-${i}`, { snapshot: true, backend: 'overlay', lxcpath });
    mark('clone', t);
    try {
      t = performance.now();
      await clone.start();
      mark('start', t);
      t = performance.now();
      await clone.stop();
      mark('stop', t);
      t = performance.now();
      await clone.destroy();
      mark('destroy', t);
    } finally {
      await clone.release();
    }
  };
}

async function reads(c: Container, args: PeerArgs): Promise<object> {
  const phases: Record<'state' | 'ips' | 'cpu' | 'memory', number[]> = { state: [], ips: [], cpu: [], memory: [] };
  const values: Record<string, unknown> = {};
  const steps: Array<[keyof typeof phases, () => Promise<unknown>, string]> = [
    ['state', () => c.state(), 'state'],
    ['ips', () => c.ipAddresses({ family: 'inet' }), 'ips'],
    ['cpu', async () => (await c.cpuStats()).usageNs, 'cpuNs'],
    ['memory', () => c.memoryUsage(), 'memoryBytes'],
  ];
  const t0 = performance.now();
  for (let i = 0; i < args.warmup + args.iterations; i++) {
    for (const [phase, read, key] of steps) {
      const t = performance.now();
      values[key] = await read();
      if (i >= args.warmup) phases[phase].push(performance.now() - t);
    }
  }
  return { wallMs: performance.now() - t0, phases, values };
}

/**
 * The size of V8's young generation: it grows (up to twice --max-semi-space-size, 32 MB by
 * default) while objects keep surviving scavenges, whatever allocates them, and stays.
 */
function newSpaceKb(): number {
  return (getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? 0) / 1024;
}

async function memory(c: Container, args: PeerArgs): Promise<object> {
  const op = execTrue(c);
  await timed(args.warmup, args.concurrency, op);
  // The lxcts-attach helper is part of lxcts: its memory and descriptors count too.
  const helper = native().attachHelperPid();
  const withHelper = (measure: (pid: number | 'self') => number) => measure('self') + (helper === null ? 0 : measure(helper));
  global.gc?.();
  const rssBeforeKb = withHelper(rssKb);
  const fdsBefore = withHelper(fdCount);
  // RSS also counts the heap V8 keeps after collecting (its young generation grows with the
  // allocation rate): what is still in use tells a leak from that.
  const heapUsedBeforeKb = process.memoryUsage().heapUsed / 1024;
  const newSpaceBeforeKb = newSpaceKb();
  const { samples, wallMs } = await timed(args.iterations, args.concurrency, op);
  global.gc?.();
  const { heapUsed, heapTotal } = process.memoryUsage();
  return {
    samples,
    wallMs,
    rssBeforeKb,
    rssAfterKb: withHelper(rssKb),
    fdsBefore,
    fdsAfter: withHelper(fdCount),
    heapUsedBeforeKb,
    heapUsedAfterKb: heapUsed / 1024,
    heapTotalAfterKb: heapTotal / 1024,
    newSpaceBeforeKb,
    newSpaceAfterKb: newSpaceKb(),
  };
}

/**
 * lxcts only: `iterations` lifecycle cycles (4 operations each), `concurrency` at a time,
 * while a 1 ms timer histogram records how late the event loop runs.
 */
async function stall(base: Container, args: PeerArgs): Promise<object> {
  const phases: Record<string, number[]> = {};
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  histogram.enable();
  const { samples, wallMs } = await timed(args.iterations, args.concurrency, lifecycleOp(base, args.prefix, args.lxcpath, phases));
  histogram.disable();
  // The histogram counts the timer's own 1 ms period in every sample.
  const ms = (ns: number) => Math.max(0, ns / 1e6 - 1);
  return {
    samples,
    wallMs,
    operations: Object.values(phases).reduce((n, p) => n + p.length, 0),
    stallMs: { p50: ms(histogram.percentile(50)), p99: ms(histogram.percentile(99)), max: ms(histogram.max), count: histogram.count },
  };
}

async function main(): Promise<void> {
  const args = parsePeerArgs(process.argv.slice(2));
  const c = new Container(args.name, { lxcpath: args.lxcpath });
  try {
    let result: object;
    switch (args.workload) {
      case 'exec':
        result = await warmedUp(args, execTrue(c));
        break;
      case 'exec-resident': {
        // The exec fast path (src/lxc/resident-exec.ts); its warm-up starts the resident.
        const resident = new Container(args.name, { lxcpath: args.lxcpath, exec: 'resident' });
        try {
          result = await warmedUp(args, execTrue(resident));
        } finally {
          await resident.release();
        }
        break;
      }
      case 'exec-output':
        result = await warmedUp(args, execOutput(c, args.bytes));
        break;
      case 'lifecycle': {
        const phases: Record<string, number[]> = {};
        const run = await warmedUp(args, lifecycleOp(c, args.prefix, args.lxcpath, phases));
        for (const list of Object.values(phases)) list.splice(0, args.warmup);
        result = { ...run, phases };
        break;
      }
      case 'reads':
        result = await reads(c, args);
        break;
      case 'memory':
        result = await memory(c, args);
        break;
      case 'stall':
        result = await stall(c, args);
        break;
      default:
        result = { unsupported: `no workload "${args.workload}"` };
    }
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    await c.release();
  }
}

main().catch((err: Error & { code?: string }) => {
  process.stderr.write(`lxcts peer: ${err.code ? `${err.code}: ` : ''}${err.message}\n`);
  process.exitCode = 1;
});
