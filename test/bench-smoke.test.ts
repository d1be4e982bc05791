/**
 * The benchmark suite in smoke mode (each workload once), lxcts's side only: not for its
 * numbers, which mean nothing here, but so that the suite cannot rot between the runs that
 * matter. The C, Go and Python peers are not compiled here (`npm run bench` builds and
 * runs them all). It runs what a person runs (npm run bench -- --smoke) minus the `npm run build` step:
 * `npm test` has built dist/ already, and rebuilding it here would rewrite dist/ and the
 * oclif manifest under the CLI runs of the test files jest runs beside this one.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { BENCH_IP } from '../bench/lib/fixtures';
import { BENCH_BUILD } from '../bench/lib/paths';
import { PEER_IDS } from '../bench/lib/peers';
import type { Report } from '../bench/lib/report';

const ROOT = path.resolve(__dirname, '..');
const out = fs.mkdtempSync(path.join(os.tmpdir(), 'lxcts-bench-smoke-'));
const benchDirs = () =>
  fs
    .readdirSync(os.tmpdir())
    .filter((d) => /^lxcts-(bench|ci-bench)-/.test(d))
    .sort();

afterAll(() => fs.rmSync(out, { recursive: true, force: true }));

/** The compiled peers and their modification times. */
function peerBinaries(): Record<string, number> {
  const dir = path.join(BENCH_BUILD, 'peers');
  if (!fs.existsSync(dir)) return {};
  return Object.fromEntries(fs.readdirSync(dir).map((f) => [f, fs.statSync(path.join(dir, f)).mtimeMs]));
}

/** With BENCH_SMOKE_OUT set (the GitHub workflow uploads it), the report and the run's output are kept there. */
function keepForCi(log: string): void {
  const dest = process.env.BENCH_SMOKE_OUT;
  if (!dest) return;
  fs.mkdirSync(dest, { recursive: true });
  fs.cpSync(out, dest, { recursive: true });
  fs.writeFileSync(path.join(dest, 'bench.log'), log);
}

test('npm run bench:run -- --smoke --peers lxcts: lxcts runs every workload, no other peer is built; the report says so', () => {
  const before = benchDirs();
  const peersBefore = peerBinaries();
  const run = spawnSync('npm', ['run', '--silent', 'bench:run', '--', '--smoke', '--peers', 'lxcts', '--out', out], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 900_000,
  });
  keepForCi(`${run.stderr}\n${run.stdout}`);
  const why = `${run.stderr}\n${run.stdout}`.slice(-4000);
  expect({ status: run.status, why }).toEqual({ status: 0, why: expect.any(String) });

  const report = JSON.parse(fs.readFileSync(path.join(out, 'latest.json'), 'utf8')) as Report;
  expect(report.mode).toBe('smoke');
  expect(report.peers.map((p) => [p.id, p.missing?.replace(/ .*/, '') ?? 'present'])).toEqual(
    PEER_IDS.map((id) => [id, id === 'lxcts' ? 'present' : 'skipped']),
  );
  // Not one peer program was compiled (or even touched).
  expect(peerBinaries()).toEqual(peersBefore);

  // Every workload has an lxcts number.
  const ours = report.results.filter((r) => r.peer === 'lxcts');
  expect(ours.filter((r) => !r.summary && !r.error?.startsWith('n/a'))).toEqual([]);
  const workloads = new Set(ours.map((r) => r.workload));
  for (const w of [
    'exec /bin/true, sequential',
    'exec /bin/true, 8 in flight',
    'exec /bin/true, 64 in flight',
    'exec with 1 MB of stdout',
    'exec with 100 MB of stdout',
    'lifecycle: overlay clone + start + stop + destroy',
    'reads: ips',
    'event-loop stall, 4 lifecycles at once, each creating from the busybox template',
  ]) {
    expect(workloads).toContain(w);
  }
  for (const prefix of [
    'event-loop stall',
    'memory',
    'CI: signed webhook',
    'CI: fresh build container',
    'CI: trivial builds per minute, 1 worker',
    'CI: trivial builds per minute, 2 workers',
    'CI server: push → first log line',
    'CI server: line printed by a step',
    'CI server: build events ingested',
    'CI server: builds page rendered',
    'CI server: a build page rendered',
    'CI server: /api/builds answered',
    'tree in, 4 MiB tree',
    'tree out, 4 MiB tree',
  ]) {
    expect(ours.some((r) => r.workload.startsWith(prefix) && r.summary && r.summary.median >= 0)).toBe(true);
  }
  // lxcts really read the running container: its state and its one address.
  const values = ours.filter((r) => r.workload === 'reads: state').map((r) => (r.extra as { values: { state: string; ips: string[] } }).values);
  expect(values).toEqual([expect.objectContaining({ state: 'RUNNING', ips: [BENCH_IP] })]);

  // The targets about lxcts alone are checked (met or missed: smoke numbers decide
  // nothing); the comparisons with the other peers are not measured.
  // Every row of issue 17's table is there, measured or not (the fast path's until it is
  // registered), then issue 7's that still hold.
  expect(report.targets).toHaveLength(28);
  expect(report.targets.filter((t) => t.target.startsWith('exec, fast path'))).toHaveLength(2);
  const measured = report.targets.filter((t) => t.met !== null).map((t) => t.target);
  expect(measured).toEqual(
    expect.arrayContaining([
      'RSS growth over 10,000 execs, 8 in flight, helper included: < 10 MB',
      'fd growth over 10,000 execs, helper included: 0',
      'CI: fresh build container p50 ≤ 15 ms',
      'CI: signed webhook → first step running p50 ≤ 40 ms',
      'CI: trivial builds per minute, 2 workers on 2 cores: ≥ 1,000',
      'event-loop stall p99 < 20 ms',
      'event-loop stall max < 50 ms, 4 lifecycles creating from a template at once',
      'a printed line on the open build page p95 ≤ 250 ms',
      'server ingests ≥ 5,000 events/s',
      'builds page p50 < 50 ms (100,000 builds stored in a full run)',
      'a build page p50 < 50 ms (100,000 builds stored in a full run)',
    ]),
  );
  const markdown = fs.readFileSync(path.join(out, 'latest.md'), 'utf8');
  for (const w of workloads) expect(markdown).toContain(`| ${w} |`);

  // Containers, lxcpaths and NSQ data were removed.
  expect(benchDirs()).toEqual(before);
}, 900_000);
