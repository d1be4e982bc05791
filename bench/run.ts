/**
 * npm run bench [-- --smoke] [-- --out DIR] [-- --peers lxcts,c] [-- --tree-mib N]
 *
 * --peers builds and runs only the peers named (default: all); the others are reported as
 * skipped, not missing. `npm test` runs `--smoke --peers lxcts`: the suite without
 * compiling the C, Go and Python peers.
 *
 * Builds the peers, makes the containers they share, runs every workload of issue 7, and
 * writes bench/results/latest.md and latest.json. Exits 1 when a peer is missing or a
 * workload failed (the report is still written and says which); missed targets are
 * reported, not failures.
 */
import { parseArgs } from 'node:util';

import { lxcVersion } from '../src';
import { runCiPipeline } from './lib/ci-pipeline';
import { runCiServer } from './lib/ci-server';
import { runCreateStall } from './lib/create-stall';
import { runFileTransfer } from './lib/file-transfer';
import { Fixtures, makeFixtures } from './lib/fixtures';
import { RESULTS } from './lib/paths';
import { buildPeers, Peer, PEER_IDS, PeerId } from './lib/peers';
import { checkTargets, machine, peerList, Report, writeReport } from './lib/report';
import { FULL, Result, runInterleaved, runMemory, runStall, SMOKE } from './lib/workloads';

const progress = (line: string) => process.stderr.write(`[bench] ${line}\n`);

/** A peer left out with --peers: reported, but neither missing nor a failure. */
const SKIPPED = 'skipped';

function selectPeers(list: string): PeerId[] {
  const ids = list
    .split(',')
    .map((id) => id.trim())
    .filter(Boolean);
  const unknown = ids.filter((id) => !(PEER_IDS as readonly string[]).includes(id));
  if (unknown.length > 0 || ids.length === 0) throw new Error(`--peers takes a comma-separated list of ${PEER_IDS.join(', ')}; got "${list}"`);
  return PEER_IDS.filter((id) => ids.includes(id));
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      smoke: { type: 'boolean', default: false },
      out: { type: 'string', default: RESULTS },
      peers: { type: 'string', default: PEER_IDS.join(',') },
      // The tree of the files workload; issue 18 names 1024 (1 GiB).
      'tree-mib': { type: 'string', default: '256' },
    },
  });
  const scale = values.smoke ? SMOKE : FULL;
  const selected = selectPeers(values.peers);
  progress('building the peers');
  const built = await buildPeers(selected);
  const peers: Peer[] = PEER_IDS.map((id) => built.find((p) => p.id === id) ?? { id, missing: `${SKIPPED} (--peers ${values.peers})` });
  for (const p of peers)
    progress(!('missing' in p) ? `${p.id}: ${p.version}` : p.missing.startsWith(SKIPPED) ? `${p.id}: ${p.missing}` : `${p.id}: MISSING (${p.missing})`);

  const results: Result[] = [];
  let fixtures: Fixtures | undefined;
  // Ctrl-C still removes the containers; a second one gives up on that.
  const interrupted = () => {
    progress('interrupted: removing the bench containers');
    void (fixtures?.cleanup() ?? Promise.resolve()).finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupted);
  try {
    progress('making the containers');
    fixtures = await makeFixtures();
    results.push(...(await runInterleaved(peers, fixtures, scale, progress)));
    results.push(await runStall(peers, fixtures, scale));
    progress('event-loop stall');
    results.push(await runCreateStall(fixtures.lxcpath, values.smoke ? 1 : 3));
    progress('event-loop stall while creating from a template');
    results.push(...(await runMemory(peers, fixtures, scale, progress)));
    const treeMib = Number(values['tree-mib']);
    if (!Number.isInteger(treeMib) || treeMib < 1) throw new Error(`--tree-mib takes a whole number of MiB; got "${values['tree-mib']}"`);
    results.push(...(await runFileTransfer(fixtures, values.smoke ? 4 : treeMib, values.smoke ? 1 : 3, selected.includes('tools'), progress)));
  } finally {
    await fixtures?.cleanup();
  }
  results.push(...(await runCiPipeline(values.smoke ? { latencyPushes: 1, throughputBuilds: 2 } : { latencyPushes: 15, throughputBuilds: 16 }, progress)));
  results.push(
    ...(await runCiServer(
      values.smoke ? { livePushes: 1, ingestBuilds: 100, storedBuilds: 1000 } : { livePushes: 15, ingestBuilds: 3000, storedBuilds: 100_000 },
      progress,
    )),
  );
  process.removeListener('SIGINT', interrupted);

  const report: Report = {
    date: new Date().toISOString(),
    mode: values.smoke ? 'smoke' : 'full',
    machine: machine(lxcVersion()),
    peers: peerList(peers),
    results,
    targets: checkTargets(results),
  };
  const written = writeReport(report, values.out);
  progress(`wrote ${written.markdown} and ${written.json}`);
  const broken = [
    ...peers.filter((p) => 'missing' in p && !p.missing.startsWith(SKIPPED)).map((p) => `peer ${p.id} is missing`),
    ...results.filter((r) => r.error && !r.error.startsWith('n/a') && !r.error.startsWith('missing')).map((r) => `${r.workload} (${r.peer}) failed`),
  ];
  for (const b of broken) progress(b);
  return broken.length ? 1 : 0;
}

main().then(
  (code) => (process.exitCode = code),
  (err: Error) => {
    progress(`failed: ${err.message}`);
    process.exitCode = 1;
  },
);
