/**
 * The benchmark suite in smoke mode (each workload once, every peer): not for its numbers,
 * which mean nothing here, but so that the suite cannot rot between the runs that matter.
 * It runs what a person runs (npm run bench -- --smoke) minus the `npm run build` step:
 * `npm test` has built dist/ already, and rebuilding it here would rewrite dist/ and the
 * oclif manifest under the CLI runs of the test files jest runs beside this one.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { BENCH_IP } from '../bench/lib/fixtures';
import { PEER_IDS } from '../bench/lib/peers';
import type { Report } from '../bench/lib/report';

const ROOT = path.resolve(__dirname, '..');
const out = fs.mkdtempSync(path.join(os.tmpdir(), 'lxcts-bench-smoke-'));
const benchDirs = () => fs.readdirSync(os.tmpdir()).filter((d) => /^lxcts-(bench|ci-bench)-/.test(d)).sort();

afterAll(() => fs.rmSync(out, { recursive: true, force: true }));

test('npm run bench:run -- --smoke: every peer is built and runs every workload; the report says so', () => {
  const before = benchDirs();
  const run = spawnSync('npm', ['run', '--silent', 'bench:run', '--', '--smoke', '--out', out], { cwd: ROOT, encoding: 'utf8', timeout: 900_000 });
  const why = `${run.stderr}\n${run.stdout}`.slice(-4000);
  expect({ status: run.status, why }).toEqual({ status: 0, why: expect.any(String) });

  const report = JSON.parse(fs.readFileSync(path.join(out, 'latest.json'), 'utf8')) as Report;
  expect(report.mode).toBe('smoke');
  expect(report.peers.map((p) => [p.id, p.missing ?? 'present'])).toEqual(PEER_IDS.map((id) => [id, 'present']));

  // Every workload has a number for every peer that can run it; the tools peer has no
  // process of its own to measure for memory, and the lxcts-only ones have only lxcts.
  const failed = report.results.filter((r) => !r.summary && !r.error?.startsWith('n/a'));
  expect(failed).toEqual([]);
  const workloads = new Set(report.results.map((r) => r.workload));
  for (const w of ['exec /bin/true, sequential', 'exec /bin/true, 8 in flight', 'exec /bin/true, 64 in flight', 'exec with 1 MB of stdout', 'exec with 100 MB of stdout', 'lifecycle: overlay clone + start + stop + destroy', 'reads: ips']) {
    expect(workloads).toContain(w);
    expect(report.results.filter((r) => r.workload === w && r.summary).map((r) => r.peer).sort()).toEqual([...PEER_IDS].sort());
  }
  for (const prefix of ['event-loop stall', 'memory', 'CI: signed webhook', 'CI: fresh build container', 'CI: trivial builds per minute, 1 worker', 'CI: trivial builds per minute, 2 workers']) {
    expect(report.results.some((r) => r.workload.startsWith(prefix) && r.peer === 'lxcts' && r.summary && r.summary.median >= 0)).toBe(true);
  }
  // Each peer really read the running container: its state and its one address.
  const values = report.results.filter((r) => r.workload === 'reads: state').map((r) => (r.extra as { values: { state: string; ips: string[] } }).values);
  expect(values).toEqual(PEER_IDS.map(() => expect.objectContaining({ state: 'RUNNING', ips: [BENCH_IP] })));

  // Every target is checked (met or missed: smoke numbers decide nothing), and the
  // Markdown table has a row per workload.
  expect(report.targets).toHaveLength(9);
  expect(report.targets.filter((t) => t.met === null)).toEqual([]);
  const markdown = fs.readFileSync(path.join(out, 'latest.md'), 'utf8');
  for (const w of workloads) expect(markdown).toContain(`| ${w} |`);

  // Containers, lxcpaths and NSQ data were removed.
  expect(benchDirs()).toEqual(before);
}, 900_000);
