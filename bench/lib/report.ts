/** The targets of issue 7, checked against one run, and the run written as Markdown and JSON. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { createStallTarget } from './create-stall';
import { Peer, PEER_IDS, PEER_LABELS, PeerId } from './peers';
import { Result } from './workloads';

export interface Target {
  target: string;
  measured: string;
  /** null: not measured in this run (a peer or workload failed). */
  met: boolean | null;
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

function ratioTarget(results: Result[], workload: string, limit: number, label: string): Target {
  const r = find(results, workload, 'lxcts');
  if (r?.ratioToC === undefined) return { target: label, measured: r?.error ?? 'C or lxcts missing', met: null };
  return { target: label, measured: `${x(r.ratioToC)} C (${fmt(r.summary!.median)} vs ${fmt(r.summary!.median / r.ratioToC)} ms)`, met: r.ratioToC <= limit };
}

function aheadTarget(results: Result[], workloads: string[]): Target {
  const label = 'exec ahead of go-lxc and python3-lxc, sequential and 8 in flight';
  const parts: string[] = [];
  let met: boolean | null = true;
  for (const w of workloads) {
    const ours = find(results, w, 'lxcts')?.summary?.median;
    for (const peer of ['go-lxc', 'python'] as const) {
      const theirs = find(results, w, peer)?.summary?.median;
      if (ours === undefined || theirs === undefined) {
        met = null;
        parts.push(`${peer}: not measured`);
        continue;
      }
      if (met !== null) met &&= ours < theirs;
      parts.push(`${w.includes('8') ? '8 in flight' : 'sequential'} vs ${PEER_LABELS[peer]} ${x(ours / theirs)}`);
    }
  }
  return { target: label, measured: parts.join('; '), met };
}

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

export function checkTargets(results: Result[]): Target[] {
  const memory = results.find((r) => r.workload.startsWith('memory') && r.peer === 'lxcts');
  const mem = memory?.extra as { rssGrowthKb: number; fdsBefore: number; fdsAfter: number } | undefined;
  const seq = 'exec /bin/true, sequential';
  const par = 'exec /bin/true, 8 in flight';
  return [
    ratioTarget(results, seq, 1.1, 'exec latency ≤ 1.10× C, sequential'),
    ratioTarget(results, par, 1.0, 'exec ≤ 1.00× C at 8 in flight'),
    aheadTarget(results, [seq, par]),
    ratioTarget(results, 'lifecycle', 1.1, 'lifecycle ≤ 1.10× C'),
    boundTarget(find(results, 'CI: fresh build container', 'lxcts'), 'fresh build container p50 ≤ 80 ms', (r) => r.summary!.median, 80.0001, 'ms'),
    boundTarget(find(results, 'CI: signed webhook', 'lxcts'), 'webhook to first step p50 ≤ 300 ms', (r) => r.summary!.median, 300.0001, 'ms'),
    boundTarget(find(results, 'event-loop stall', 'lxcts'), 'event-loop stall p99 < 20 ms', (r) => r.summary!.p99, 20, 'ms'),
    createStallTarget(results),
    boundTarget(find(results, 'CI server: line printed', 'lxcts'), 'a printed line on the open build page p95 ≤ 250 ms', (r) => r.summary!.p95, 250.0001, 'ms'),
    floorTarget(find(results, 'CI server: build events ingested', 'lxcts'), 'server ingests ≥ 5,000 events/s', 5000, 'events/s'),
    boundTarget(
      find(results, 'CI server: builds page rendered', 'lxcts'),
      'builds page p50 < 50 ms (100,000 builds stored in a full run)',
      (r) => r.summary!.median,
      50,
      'ms',
    ),
    boundTarget(
      find(results, 'CI server: a build page rendered', 'lxcts'),
      'a build page p50 < 50 ms (100,000 builds stored in a full run)',
      (r) => r.summary!.median,
      50,
      'ms',
    ),
    boundTarget(memory, 'RSS growth < 10 MB over the execs', () => mem!.rssGrowthKb / 1024, 10, 'MB'),
    boundTarget(memory, 'no fd growth over the execs', () => mem!.fdsAfter - mem!.fdsBefore, 1, 'fds'),
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
  lines.push('## Targets', '');
  row(['target', 'measured', 'met']);
  row(['---', '---', '---']);
  for (const t of report.targets) row([t.target, t.measured, t.met === null ? '? not measured' : t.met ? '✅ met' : '❌ missed']);
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
    row(['peer', 'RSS before → after', 'growth', 'fds before → after', 'JS heap in use before → after (heap size after)']);
    row(['---', '---:', '---:', '---:', '---:']);
    for (const r of memory) {
      const m = r.extra as Record<string, number | undefined>;
      const mb = (key: string) => fmt((m[key] ?? NaN) / 1024); // a figure the peer did not report shows as "–"
      const heap = m.heapUsedAfterKb === undefined ? '' : `${mb('heapUsedBeforeKb')} → ${mb('heapUsedAfterKb')} MB (${mb('heapTotalAfterKb')} MB)`;
      row([PEER_LABELS[r.peer], `${mb('rssBeforeKb')} → ${mb('rssAfterKb')} MB`, `${mb('rssGrowthKb')} MB`, `${m.fdsBefore} → ${m.fdsAfter}`, heap]);
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
