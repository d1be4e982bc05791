/**
 * The targets of issue 17 (and issue 7's that it leaves as they were), checked against one
 * run, and the run written as Markdown and JSON.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { createStallTarget } from './create-stall';
import { Peer, PEER_IDS, PEER_LABELS, PeerId } from './peers';
import { Result } from './workloads';

export interface Target {
  target: string;
  measured: string;
  /** null: not measured in this run (a peer or workload failed, or it does not exist yet). */
  met: boolean | null;
  /** A number shown beside the targets, with no target of its own. */
  info?: boolean;
  /** A target of issue 7 that issue 17 leaves as it was. */
  earlier?: boolean;
}

export interface Report {
  date: string;
  mode: 'full' | 'smoke';
  machine: Record<string, string>;
  peers: Array<{ id: PeerId; version?: string; missing?: string }>;
  results: Result[];
  targets: Target[];
}

const find = (results: Result[], workload: string, peer: PeerId) => results.find((r) => r.workload.startsWith(workload) && r.peer === peer);
const x = (ratio: number) => `${ratio.toFixed(2)}×`;

export function fmt(n: number): string {
  if (!Number.isFinite(n)) return '–';
  const abs = Math.abs(n);
  return n.toFixed(abs >= 100 ? 0 : abs >= 10 ? 1 : 2);
}

/** The peers lxcts must be ahead of (issue 17). */
const RIVALS = ['go-lxc', 'python'] as const;

/**
 * The lxcts row of `workload` against C (at most `limit`× C's median) and, with `ahead`,
 * against go-lxc and python3-lxc (a smaller median than each). A row whose workload did
 * not run (not built yet, a peer skipped or failed) is "not measured", never dropped.
 */
function versusC(results: Result[], workload: string | undefined, label: string, limit: number, ahead: boolean): Target {
  const ours = workload === undefined ? undefined : results.find((r) => r.workload === workload && r.peer === 'lxcts');
  if (ours?.ratioToC === undefined || !ours.summary) {
    return {
      target: label,
      measured: ours?.error ?? (workload === undefined ? 'not measured: no such workload yet' : 'not measured (C or lxcts missing)'),
      met: null,
    };
  }
  const parts = [`${x(ours.ratioToC)} C (${fmt(ours.summary.median)} vs ${fmt(ours.summary.median / ours.ratioToC)} ${unitOf(ours)})`];
  let met: boolean | null = ours.ratioToC <= limit;
  if (ahead) {
    for (const peer of RIVALS) {
      const theirs = results.find((r) => r.workload === workload && r.peer === peer)?.summary?.median;
      if (theirs === undefined) {
        parts.push(`${PEER_LABELS[peer]} not measured`);
        met = met === false ? false : null;
        continue;
      }
      parts.push(`${x(ours.summary.median / theirs)} ${PEER_LABELS[peer]}`);
      if (met !== null) met &&= ours.summary.median < theirs;
    }
  }
  return { target: label, measured: parts.join('; '), met };
}

const unitOf = (r: Result) => (r.unit.startsWith('ms') ? 'ms' : r.unit);

function boundTarget(result: Result | undefined, label: string, value: (r: Result) => number, limit: number, unit: string): Target {
  if (!result?.summary) return { target: label, measured: result?.error ?? 'not measured', met: null };
  const v = value(result);
  return { target: label, measured: `${fmt(v)} ${unit}`, met: v < limit };
}

/** A rate that must reach `floor` (the median of its runs). */
function floorTarget(result: Result | undefined, label: string, floor: number, unit: string): Target {
  if (!result?.summary) return { target: label, measured: result?.error ?? 'not measured', met: null };
  return { target: label, measured: `${fmt(result.summary.median)} ${unit}`, met: result.summary.median >= floor };
}

/** The RSS row says how much of the growth is V8's young generation (bench/README.md, Memory). */
function youngGenerationNote(t: Target, mem: { newSpaceBeforeKb?: number; newSpaceAfterKb?: number } | undefined): Target {
  if (t.met === null || mem?.newSpaceAfterKb === undefined || mem.newSpaceBeforeKb === undefined) return t;
  return { ...t, measured: `${t.measured}, of which ${fmt((mem.newSpaceAfterKb - mem.newSpaceBeforeKb) / 1024)} MB is V8's young generation growing` };
}

/** A number reported without a target (the 1-worker build rate beside the 2-worker one). */
function shown(result: Result | undefined, label: string, unit: string): Target {
  return { target: label, measured: result?.summary ? `${fmt(result.summary.median)} ${unit}` : (result?.error ?? 'not measured'), met: null, info: true };
}

/**
 * The exec fast path's rows: any workload whose name has "fast path" in it, sequential or
 * at 8 in flight (registered by the fast path itself in workloads.ts).
 */
function fastPath(results: Result[], which: 'sequential' | '8 in flight'): string | undefined {
  return results.find((r) => r.peer === 'lxcts' && r.workload.includes('fast path') && r.workload.includes(which))?.workload;
}

/** The Targets table of issue 17, row by row, then the earlier targets that still hold. */
export function checkTargets(results: Result[]): Target[] {
  const memory = results.find((r) => r.workload.startsWith('memory') && r.peer === 'lxcts');
  const mem = memory?.extra as { rssGrowthKb: number; fdsBefore: number; fdsAfter: number; newSpaceBeforeKb?: number; newSpaceAfterKb?: number } | undefined;
  const lxcts = (prefix: string) => find(results, prefix, 'lxcts');
  const lifecycle = 'lifecycle: overlay clone + start + stop + destroy';
  return [
    versusC(results, 'exec /bin/true, sequential', 'exec, sequential: ≤ 1.00× C, ahead of go-lxc and python3-lxc', 1.0, true),
    versusC(results, 'exec /bin/true, 8 in flight', 'exec, 8 in flight: ≤ 1.00× C, ahead of go-lxc and python3-lxc', 1.0, true),
    versusC(results, 'exec /bin/true, 64 in flight', 'exec, 64 in flight: ≤ 0.75× C, ahead of go-lxc and python3-lxc', 0.75, true),
    versusC(results, fastPath(results, 'sequential'), 'exec, fast path, sequential: ≤ 0.40× C', 0.4, false),
    versusC(results, fastPath(results, '8 in flight'), 'exec, fast path, 8 in flight: ≤ 0.40× C', 0.4, false),
    versusC(results, 'exec with 1 MB of stdout', 'exec with 1 MB of stdout: ≤ 1.05× C', 1.05, false),
    versusC(results, 'exec with 100 MB of stdout', 'exec with 100 MB of stdout: ≤ 1.05× C', 1.05, false),
    versusC(results, lifecycle, 'lifecycle (clone + start + stop + destroy): ≤ 1.00× C', 1.0, false),
    ...(['clone', 'start', 'stop', 'destroy'] as const).map((part) => versusC(results, `${lifecycle}: ${part}`, `lifecycle, ${part}: ≤ 1.00× C`, 1.0, false)),
    ...(['state', 'ips', 'cpu', 'memory'] as const).map((read) =>
      versusC(results, `reads: ${read}`, `reads, ${read}: ≤ 2× C, ahead of go-lxc and python3-lxc`, 2.0, true),
    ),
    youngGenerationNote(
      boundTarget(memory, 'RSS growth over 10,000 execs, 8 in flight, helper included: < 10 MB', () => mem!.rssGrowthKb / 1024, 10, 'MB'),
      mem,
    ),
    memory?.summary
      ? {
          target: 'fd growth over 10,000 execs, helper included: 0',
          measured: `${mem!.fdsAfter - mem!.fdsBefore} fds (${mem!.fdsBefore} → ${mem!.fdsAfter})`,
          met: mem!.fdsAfter <= mem!.fdsBefore,
        }
      : { target: 'fd growth over 10,000 execs, helper included: 0', measured: memory?.error ?? 'not measured', met: null },
    boundTarget(lxcts('CI: fresh build container'), 'CI: fresh build container p50 ≤ 15 ms', (r) => r.summary!.median, 15.0001, 'ms'),
    boundTarget(lxcts('CI: signed webhook'), 'CI: signed webhook → first step running p50 ≤ 40 ms', (r) => r.summary!.median, 40.0001, 'ms'),
    floorTarget(lxcts('CI: trivial builds per minute, 2 workers'), 'CI: trivial builds per minute, 2 workers on 2 cores: ≥ 1,000', 1000, 'builds/min'),
    shown(lxcts('CI: trivial builds per minute, 1 worker'), 'CI: trivial builds per minute, 1 worker (no target; for comparison)', 'builds/min'),
    // Issue 7's targets that issue 17 does not tighten: still checked, so they cannot regress.
    ...[
      boundTarget(lxcts('event-loop stall'), 'event-loop stall p99 < 20 ms', (r) => r.summary!.p99, 20, 'ms'),
      createStallTarget(results),
      boundTarget(lxcts('CI server: line printed'), 'a printed line on the open build page p95 ≤ 250 ms', (r) => r.summary!.p95, 250.0001, 'ms'),
      floorTarget(lxcts('CI server: build events ingested'), 'server ingests ≥ 5,000 events/s', 5000, 'events/s'),
      boundTarget(
        lxcts('CI server: builds page rendered'),
        'builds page p50 < 50 ms (100,000 builds stored in a full run)',
        (r) => r.summary!.median,
        50,
        'ms',
      ),
      boundTarget(
        lxcts('CI server: a build page rendered'),
        'a build page p50 < 50 ms (100,000 builds stored in a full run)',
        (r) => r.summary!.median,
        50,
        'ms',
      ),
    ].map((t) => ({ ...t, earlier: true })),
  ];
}

export function machine(lxcVersion: string): Record<string, string> {
  const cpus = os.cpus();
  const unified = fs.existsSync('/sys/fs/cgroup/cgroup.controllers');
  const hybrid = fs.existsSync('/sys/fs/cgroup/unified');
  return {
    cpu: `${cpus[0]?.model.trim() ?? 'unknown'} × ${cpus.length}`,
    memory: `${Math.round(os.totalmem() / 2 ** 30)} GiB`,
    kernel: os.release(),
    cgroups: unified ? 'v2 (unified)' : hybrid ? 'hybrid (v1 controllers)' : 'v1',
    lxc: lxcVersion,
    node: process.version,
  };
}

function cell(r: Result | undefined): string {
  if (!r) return '';
  if (!r.summary) return r.error?.startsWith('n/a') ? 'n/a' : 'missing';
  const s = r.summary;
  // The stall has no p95 of its own: a histogram gives p99 and max.
  const main = Number.isNaN(s.p95) ? `${fmt(s.median)} (p99 ${fmt(s.p99)}, max ${fmt(s.max)})` : `${fmt(s.median)} / ${fmt(s.p95)}`;
  return r.ratioToC !== undefined && r.peer !== 'c' ? `${main} (${x(r.ratioToC)})` : main;
}

export function toMarkdown(report: Report): string {
  const lines: string[] = [];
  const row = (cells: string[]) => lines.push(`| ${cells.join(' | ')} |`);
  lines.push(`# lxcts benchmarks (${report.mode} run, ${report.date})`, '');
  lines.push(
    `Machine: ${Object.entries(report.machine)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}.`,
    '',
  );
  if (report.mode === 'smoke')
    lines.push('**Smoke run: each workload once. These numbers mean nothing; the run only shows that every workload still works.**', '');
  const verdict = (t: Target) => (t.info ? '' : t.met === null ? '? not measured' : t.met ? '✅ met' : '❌ missed');
  for (const [title, targets] of [
    ['Targets (issue 17)', report.targets.filter((t) => !t.earlier)],
    ['Earlier targets, still checked (issue 7)', report.targets.filter((t) => t.earlier)],
  ] as const) {
    if (targets.length === 0) continue;
    lines.push(`## ${title}`, '');
    row(['target', 'measured', 'met']);
    row(['---', '---', '---']);
    for (const t of targets) row([t.target, t.measured, verdict(t)]);
    lines.push('');
  }
  lines.pop();
  lines.push(
    '',
    '## Results',
    '',
    "Median / p95 (ratio of the median to C's). One interleaved run: every peer ran each workload in turn, round after round.",
    '',
  );
  row(['workload', 'unit', ...PEER_IDS.map((id) => PEER_LABELS[id])]);
  row(['---', '---', ...PEER_IDS.map(() => '---:')]);
  const workloads = [...new Set(report.results.map((r) => r.workload))];
  for (const w of workloads) {
    const rs = report.results.filter((r) => r.workload === w);
    row([w, rs[0]?.unit ?? '', ...PEER_IDS.map((id) => cell(rs.find((r) => r.peer === id)))]);
  }
  const memory = report.results.filter((r) => r.workload.startsWith('memory') && r.extra);
  if (memory.length) {
    lines.push('', '## Memory', '');
    row([
      'peer',
      'RSS before → after',
      'growth',
      'fds before → after',
      'JS heap in use before → after (heap size after)',
      "V8's young generation before → after",
    ]);
    row(['---', '---:', '---:', '---:', '---:', '---:']);
    for (const r of memory) {
      const m = r.extra as Record<string, number | undefined>;
      const mb = (key: string) => fmt((m[key] ?? NaN) / 1024); // a figure the peer did not report shows as "–"
      const heap = m.heapUsedAfterKb === undefined ? '' : `${mb('heapUsedBeforeKb')} → ${mb('heapUsedAfterKb')} MB (${mb('heapTotalAfterKb')} MB)`;
      const young = m.newSpaceAfterKb === undefined ? '' : `${mb('newSpaceBeforeKb')} → ${mb('newSpaceAfterKb')} MB`;
      row([PEER_LABELS[r.peer], `${mb('rssBeforeKb')} → ${mb('rssAfterKb')} MB`, `${mb('rssGrowthKb')} MB`, `${m.fdsBefore} → ${m.fdsAfter}`, heap, young]);
    }
  }
  lines.push('', '## Peers', '');
  row(['peer', 'version']);
  row(['---', '---']);
  for (const p of report.peers) row([PEER_LABELS[p.id], p.version ?? (p.missing?.startsWith('skipped') ? p.missing : `**missing**: ${p.missing}`)]);
  const failures = report.results.filter((r) => r.error && !r.error.startsWith('n/a') && !r.error.startsWith('missing'));
  if (failures.length) {
    lines.push('', '## Failures', '');
    for (const f of failures) lines.push(`- ${f.workload}, ${PEER_LABELS[f.peer]}: ${f.error}`);
  }
  return `${lines.join('\n')}\n`;
}

/** Writes latest.md and latest.json in `dir`, each through a temporary file and rename. */
export function writeReport(report: Report, dir: string): { markdown: string; json: string } {
  fs.mkdirSync(dir, { recursive: true });
  const out = { markdown: path.join(dir, 'latest.md'), json: path.join(dir, 'latest.json') };
  for (const [file, text] of [
    [out.markdown, toMarkdown(report)],
    [out.json, `${JSON.stringify(report, null, 2)}\n`],
  ] as const) {
    fs.writeFileSync(`${file}.tmp`, text);
    fs.renameSync(`${file}.tmp`, file);
  }
  return out;
}

export function peerList(peers: Peer[]): Report['peers'] {
  return peers.map((p) => ('missing' in p ? { id: p.id, missing: p.missing } : { id: p.id, version: p.version }));
}
