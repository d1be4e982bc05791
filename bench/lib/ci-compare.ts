/**
 * Interleaved comparison of the CI rows between builds of lxcts: `npx tsc -p tsconfig.bench.json && node bench/out/bench/lib/ci-compare.js
 * ROUNDS BIN...` runs workload 7's pipeline once per BIN (a bin/run.js) per round, in turn.
 */
import { Pipeline } from './ci-pipeline';

const wallMs = () => performance.timeOrigin + performance.now();
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

async function once(bin: string, pushes: number, builds: number): Promise<{ latency: number; ready: number; perMinute: number }> {
  const p = new Pipeline(bin);
  try {
    await p.start();
    await p.workers(1);
    const first = p.newCommit('main', 'warm-up');
    await p.push(first, 'main');
    await p.finished([first]);
    const lat: number[] = [];
    const ready: number[] = [];
    const fs = await import('node:fs');
    for (let i = 0; i < pushes; i++) {
      const c = p.newCommit('main', `l${i}`);
      const t = wallMs();
      await p.push(c, 'main');
      const [b] = await p.finished([c]);
      const log = fs.readFileSync(b!.logPath!, 'utf8');
      const ns = /^(\d{18,20})$/m.exec(log)![1]!;
      lat.push(Number(BigInt(ns) / 1000n) / 1000 - t);
      ready.push(Number(/container \S+ ready in ([\d.]+) ms/.exec(log)![1]));
    }
    await p.workers(2);
    const commits = Array.from({ length: builds }, (_, j) => p.newCommit(`w${j}`, `t${j}`));
    const t0 = wallMs();
    for (const [j, c] of commits.entries()) await p.push(c, `w${j}`);
    await p.finished(commits, 600);
    return { latency: median(lat), ready: median(ready), perMinute: builds / ((wallMs() - t0) / 60_000) };
  } finally {
    await p.stop();
  }
}

async function main(): Promise<void> {
  const [rounds = '3', ...bins] = process.argv.slice(2);
  const results = new Map<string, Array<{ latency: number; ready: number; perMinute: number }>>();
  for (let r = 0; r < Number(rounds); r++) {
    for (const bin of bins) {
      const res = await once(bin, Number(process.env.PUSHES ?? 9), Number(process.env.BUILDS ?? 30));
      console.log(JSON.stringify({ round: r, bin, ...res }));
      results.set(bin, [...(results.get(bin) ?? []), res]);
    }
  }
  for (const [bin, rs] of results)
    console.log(
      `${bin}: latency p50 ${median(rs.map((x) => x.latency)).toFixed(1)} ms, ready ${median(rs.map((x) => x.ready)).toFixed(1)} ms, ${median(rs.map((x) => x.perMinute)).toFixed(0)} builds/min (2 workers)`,
    );
}

void main().catch((err) => {
  console.error(err);
  process.exit(1);
});
