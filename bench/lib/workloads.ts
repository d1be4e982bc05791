/**
 * Workloads 1-5 and 8 of issue 7, run by every peer in turn, round after round, so that
 * all peers see the same machine noise; and workload 6, lxcts's event-loop stall.
 */
import { Fixtures } from './fixtures';
import { Peer, PEER_IDS, PeerId, PeerOutput, PeerRequest, runPeer } from './peers';
import { summarize, Summary } from './stats';

export interface Scale {
  rounds: number;
  execIterations: number;
  parallelIterations: number;
  outputIterations: { small: number; large: number };
  lifecycleIterations: number;
  readIterations: number;
  memoryExecs: number;
  stallCycles: number;
  warmup: number;
}

export const FULL: Scale = {
  rounds: 5,
  execIterations: 100,
  parallelIterations: 320,
  outputIterations: { small: 10, large: 1 },
  lifecycleIterations: 3,
  readIterations: 40,
  memoryExecs: 10_000,
  stallCycles: 25,
  warmup: 5,
};

/** Each workload once per peer: for the test suite, so that the bench cannot rot. */
export const SMOKE: Scale = {
  rounds: 1,
  execIterations: 1,
  parallelIterations: 8,
  outputIterations: { small: 1, large: 1 },
  lifecycleIterations: 1,
  readIterations: 1,
  memoryExecs: 20,
  stallCycles: 2,
  warmup: 1,
};

/** One line of the results: a workload's numbers for one peer. */
export interface Result {
  workload: string;
  peer: PeerId;
  /** What median and p95 are of. */
  unit: string;
  summary?: Summary;
  /** Median of this peer / median of the C peer, when both ran. */
  ratioToC?: number;
  /** Other numbers (RSS, fds, stall percentiles, values read). */
  extra?: Record<string, unknown>;
  /** Why there is no number. */
  error?: string;
}

interface Case {
  workload: string;
  unit: string;
  request: (f: Fixtures, s: Scale, peer: PeerId, round: number) => PeerRequest;
  /** The numbers one run contributes: per-operation samples, or one per run. */
  samples: (out: PeerOutput) => Record<string, number[]>;
}

const perOp =
  (key = 'samples') =>
  (out: PeerOutput) => ({ '': out[key] as number[] });
/** Throughput: wall time over operations, one value per run. */
const perCall = (out: PeerOutput) => ({ '': [(out.wallMs as number) / (out.samples as number[]).length] });

const MB = 1024 * 1024;

const CASES: Case[] = [
  {
    workload: 'exec /bin/true, sequential',
    unit: 'ms per call',
    request: (f, s) => ({ workload: 'exec', lxcpath: f.lxcpath, name: f.running, iterations: s.execIterations, warmup: s.warmup }),
    samples: perOp(),
  },
  ...[8, 64].map((concurrency): Case => ({
    workload: `exec /bin/true, ${concurrency} in flight`,
    unit: 'ms per call (wall / calls)',
    request: (f, s) => ({ workload: 'exec', lxcpath: f.lxcpath, name: f.running, iterations: s.parallelIterations, warmup: s.warmup, concurrency }),
    samples: perCall,
  })),
  // The exec fast path (exec: 'resident'): lxcts runs it, every other peer its only exec.
  ...[1, 8].map((concurrency): Case => ({
    workload: `exec /bin/true, fast path, ${concurrency === 1 ? 'sequential' : `${concurrency} in flight`}`,
    unit: concurrency === 1 ? 'ms per call' : 'ms per call (wall / calls)',
    request: (f, s, peer) => ({
      workload: peer === 'lxcts' ? 'exec-resident' : 'exec',
      lxcpath: f.lxcpath,
      name: f.running,
      iterations: concurrency === 1 ? s.execIterations : s.parallelIterations,
      warmup: s.warmup,
      concurrency,
    }),
    samples: concurrency === 1 ? perOp() : perCall,
  })),
  ...(
    [
      ['1 MB', MB, 'small'],
      ['100 MB', 100 * MB, 'large'],
    ] as const
  ).map(([label, bytes, size]): Case => ({
    workload: `exec with ${label} of stdout`,
    unit: 'ms per call',
    request: (f, s) => ({ workload: 'exec-output', lxcpath: f.lxcpath, name: f.running, iterations: s.outputIterations[size], warmup: 1, bytes }),
    samples: perOp(),
  })),
  {
    workload: 'lifecycle: overlay clone + start + stop + destroy',
    unit: 'ms per cycle',
    request: (f, s, peer, round) => ({
      workload: 'lifecycle',
      lxcpath: f.lxcpath,
      name: f.stopped,
      iterations: s.lifecycleIterations,
      warmup: 1,
      prefix: `lc-${peer}-${round}`,
    }),
    samples: (out) => ({ '': out.samples as number[], ...(out.phases as Record<string, number[]>) }),
  },
  {
    workload: 'reads',
    unit: 'ms per read',
    request: (f, s) => ({ workload: 'reads', lxcpath: f.lxcpath, name: f.running, iterations: s.readIterations, warmup: s.warmup }),
    samples: (out) => out.phases as Record<string, number[]>,
  },
];

export type Progress = (line: string) => void;

/** Workloads 1-5: every case, every peer, `rounds` times, the peer order rotating. */
export async function runInterleaved(peers: Peer[], fixtures: Fixtures, scale: Scale, progress: Progress): Promise<Result[]> {
  const present = peers.filter((p): p is Extract<Peer, { command: string[] }> => 'command' in p);
  // samples[case/phase][peer] accumulated over rounds
  const samples = new Map<string, Map<PeerId, number[]>>();
  const errors = new Map<string, string>();
  const values = new Map<PeerId, unknown>();
  for (let round = 0; round < scale.rounds; round++) {
    for (const c of CASES) {
      // Each round starts with the next peer, so that none always runs first.
      const start = round % present.length;
      const order = [...present.slice(start), ...present.slice(0, start)];
      for (const peer of order) {
        if (errors.has(`${c.workload}/${peer.id}`)) continue;
        try {
          const out = await runPeer(peer, c.request(fixtures, scale, peer.id, round));
          if (out.unsupported) throw new Error(`unsupported: ${out.unsupported}`);
          for (const [phase, list] of Object.entries(c.samples(out))) {
            const key = phase ? `${c.workload}: ${phase}` : c.workload;
            if (!samples.has(key)) samples.set(key, new Map());
            const byPeer = samples.get(key)!;
            byPeer.set(peer.id, [...(byPeer.get(peer.id) ?? []), ...list]);
          }
          if (out.values) values.set(peer.id, out.values);
        } catch (err) {
          errors.set(`${c.workload}/${peer.id}`, (err as Error).message);
        }
      }
      progress(`round ${round + 1}/${scale.rounds}: ${c.workload}`);
    }
  }
  const results: Result[] = [];
  for (const c of CASES) {
    const keys = [...samples.keys()].filter((k) => k === c.workload || k.startsWith(`${c.workload}: `));
    if (keys.length === 0) keys.push(c.workload);
    for (const key of keys) {
      const byPeer = samples.get(key) ?? new Map<PeerId, number[]>();
      const c0 = byPeer.get('c');
      for (const id of PEER_IDS) {
        const peer = peers.find((p) => p.id === id)!;
        const list = byPeer.get(id);
        const error = 'missing' in peer ? `missing: ${peer.missing}` : errors.get(`${c.workload}/${id}`);
        if (!list || list.length === 0) {
          results.push({ workload: key, peer: id, unit: c.unit, error: error ?? 'no samples' });
          continue;
        }
        const summary = summarize(list);
        const ratioToC = c0?.length ? summary.median / summarize(c0).median : undefined;
        const extra = c.workload === 'reads' && key.endsWith(': state') ? { values: values.get(id) } : undefined;
        results.push({ workload: key, peer: id, unit: c.unit, summary, ratioToC, extra });
      }
    }
  }
  return results;
}

/** Workload 8: RSS and fds of each peer's process before and after many execs. */
export async function runMemory(peers: Peer[], fixtures: Fixtures, scale: Scale, progress: Progress): Promise<Result[]> {
  const workload = `memory: ${scale.memoryExecs} execs, 8 in flight`;
  const results: Result[] = [];
  for (const peer of peers) {
    const result: Result = { workload, peer: peer.id, unit: 'ms per call' };
    results.push(result);
    if ('missing' in peer) {
      result.error = `missing: ${peer.missing}`;
      continue;
    }
    try {
      const out = await runPeer(peer, {
        workload: 'memory',
        lxcpath: fixtures.lxcpath,
        name: fixtures.running,
        iterations: scale.memoryExecs,
        warmup: 100,
        concurrency: 8,
      });
      if (out.unsupported) {
        result.error = `n/a: ${out.unsupported}`;
        continue;
      }
      const { rssBeforeKb, rssAfterKb, fdsBefore, fdsAfter, heapUsedBeforeKb, heapUsedAfterKb, heapTotalAfterKb, newSpaceBeforeKb, newSpaceAfterKb } =
        out as Record<string, number>;
      if (rssBeforeKb === undefined || rssAfterKb === undefined) throw new Error(`${peer.id} did not report its RSS`);
      result.summary = summarize(out.samples as number[]);
      result.extra = {
        rssBeforeKb,
        rssAfterKb,
        rssGrowthKb: rssAfterKb - rssBeforeKb,
        fdsBefore,
        fdsAfter,
        heapUsedBeforeKb,
        heapUsedAfterKb,
        heapTotalAfterKb,
        newSpaceBeforeKb,
        newSpaceAfterKb,
      };
    } catch (err) {
      result.error = (err as Error).message;
    }
    progress(`${workload}: ${peer.id}`);
  }
  const c = results.find((r) => r.peer === 'c')?.summary;
  for (const r of results) if (r.summary && c) r.ratioToC = r.summary.median / c.median;
  return results;
}

/** Workload 6: lxcts only; the others block their caller for the whole call by design. */
export async function runStall(peers: Peer[], fixtures: Fixtures, scale: Scale): Promise<Result> {
  const workload = `event-loop stall during ${scale.stallCycles * 4} lifecycle operations, 4 cycles at once`;
  const peer = peers.find((p) => p.id === 'lxcts')!;
  if ('missing' in peer) return { workload, peer: 'lxcts', unit: 'ms of stall', error: `missing: ${peer.missing}` };
  try {
    const out = await runPeer(peer, {
      workload: 'stall',
      lxcpath: fixtures.lxcpath,
      name: fixtures.stopped,
      iterations: scale.stallCycles,
      warmup: 0,
      concurrency: 4,
      prefix: 'stall',
    });
    const stall = out.stallMs as { p50: number; p99: number; max: number; count: number };
    return {
      workload,
      peer: 'lxcts',
      unit: 'ms of stall',
      summary: { n: stall.count, median: stall.p50, p95: NaN, p99: stall.p99, min: NaN, max: stall.max },
      extra: { operations: out.operations, cycleMedianMs: summarize(out.samples as number[]).median },
    };
  } catch (err) {
    return { workload, peer: 'lxcts', unit: 'ms of stall', error: (err as Error).message };
  }
}
