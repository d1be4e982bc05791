/**
 * Issue 18: a tree in and out of a running container, lxcts (`pushTar`/`pullTar`, which
 * needs no tar in the container) against `lxc-attach … tar` (the container's own tar), both
 * fed and drained by the host's tar. The tree: `mib` MiB in files of 1 MiB, plus as many
 * small files and a symbolic link per directory. The size is a parameter (`--tree-mib`):
 * issue 18 names 1 GiB; the default keeps a full run within a minute on a small machine.
 *
 * Fair to both peers: each writes every round into a fresh directory that never held
 * anything (in the container and on the host), all removed only at the end, and the peer
 * that goes first alternates from round to round. Writing right after a large delete is
 * slower on ext4 (it skips inodes deleted moments ago: recently_deleted()), and page cache
 * and writeback left by the previous step weigh on whoever comes next. Room needed: the
 * tree's size times the rounds, twice, in the container and on the host.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';

import { Container } from '../../src';
import type { Fixtures } from './fixtures';
import { summarize } from './stats';
import type { Result } from './workloads';

function makeTree(mib: number): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'lxcts-bench-tree-'));
  const block = randomBytes(1024 * 1024);
  for (let i = 0; i < mib; i++) {
    const dir = path.join(root, `d${i % 16}`);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, `big${i}`), block);
    fs.writeFileSync(path.join(dir, `small${i}`), `file ${i}\n`);
    if (i < 16) fs.symlinkSync(`big${i}`, path.join(dir, 'link'));
  }
  return root;
}

/** Runs a shell pipeline; rejects with its stderr when it fails. */
async function sh(script: string): Promise<void> {
  const child = spawn('/bin/sh', ['-c', script], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) throw new Error(`${script}: exit ${code}: ${stderr.trim()}`);
}

async function timed(run: () => Promise<void>): Promise<number> {
  const start = performance.now();
  await run();
  return performance.now() - start;
}

/** `tools`: whether the lxc-attach side runs too (the tools peer was selected). */
export async function runFileTransfer(fixtures: Fixtures, mib: number, rounds: number, tools: boolean, progress: (line: string) => void): Promise<Result[]> {
  const label = `${mib} MiB tree (${mib * 2} files, 16 links)`;
  const workloads = { in: `tree in, ${label}`, out: `tree out, ${label}` };
  const unit = 'ms per tree';
  const samples = { lxcts: { in: [] as number[], out: [] as number[] }, tools: { in: [] as number[], out: [] as number[] } };
  const tree = makeTree(mib);
  const host = fs.mkdtempSync(path.join(os.tmpdir(), 'lxcts-bench-out-'));
  const c = new Container(fixtures.running, { lxcpath: fixtures.lxcpath });
  const attach = `lxc-attach -P ${fixtures.lxcpath} -n ${fixtures.running} --clear-env --`;
  const inside = '/tmp/lxcts-bench-tree';
  try {
    await c.exec(['rm', '-rf', inside]);
    await c.exec(['mkdir', '-p', inside]);
    for (let round = 0; round < rounds; round++) {
      const dest = { lxcts: `${inside}/lxcts-${round}`, tools: `${inside}/tools-${round}` };
      const back = { lxcts: path.join(host, `lxcts-${round}`), tools: path.join(host, `tools-${round}`) };
      fs.mkdirSync(back.lxcts);
      fs.mkdirSync(back.tools);
      const runs = {
        lxcts: {
          in: () =>
            timed(async () => {
              const tar = spawn('tar', ['-C', tree, '-c', '.'], { stdio: ['ignore', 'pipe', 'inherit'] });
              await c.pushTar(tar.stdout, dest.lxcts);
            }),
          out: () =>
            timed(async () => {
              const untar = spawn('tar', ['-x', '-C', back.lxcts], { stdio: ['pipe', 'inherit', 'inherit'] });
              await pipeline(await c.pullTar(dest.lxcts), untar.stdin);
              await once(untar, 'exit');
            }),
        },
        tools: {
          in: () => timed(() => sh(`tar -C ${tree} -c . | ${attach} sh -c 'mkdir -p ${dest.tools} && tar -x -C ${dest.tools}'`)),
          out: () => timed(() => sh(`${attach} tar -c -C ${dest.tools} . | tar -x -C ${back.tools}`)),
        },
      };
      const order: Array<'lxcts' | 'tools'> = !tools ? ['lxcts'] : round % 2 === 0 ? ['lxcts', 'tools'] : ['tools', 'lxcts'];
      for (const peer of order) samples[peer].in.push(await runs[peer].in());
      for (const peer of order) samples[peer].out.push(await runs[peer].out());
      progress(`round ${round + 1}/${rounds}: ${label} in and out (${order.join(' first, then ')})`);
    }
    const bytes = mib * 1024 * 1024;
    const row = (workload: string, peer: 'lxcts' | 'tools', values: number[]): Result => {
      const summary = summarize(values);
      return { workload, peer, unit, summary, extra: { mibPerSecond: Math.round(bytes / 1024 / 1024 / (summary.median / 1000)) } };
    };
    return [
      row(workloads.in, 'lxcts', samples.lxcts.in),
      ...(tools ? [row(workloads.in, 'tools', samples.tools.in)] : []),
      row(workloads.out, 'lxcts', samples.lxcts.out),
      ...(tools ? [row(workloads.out, 'tools', samples.tools.out)] : []),
    ];
  } catch (err) {
    const error = (err as Error).message;
    return [workloads.in, workloads.out].flatMap((workload) => (['lxcts', 'tools'] as const).map((peer) => ({ workload, peer, unit, error })));
  } finally {
    await c.exec(['rm', '-rf', inside]).catch(() => undefined);
    await c.release();
    fs.rmSync(tree, { recursive: true, force: true });
    fs.rmSync(host, { recursive: true, force: true });
  }
}
