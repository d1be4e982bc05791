/**
 * The CI server's rows (issue 15's performance section):
 *
 * - live log: the pipeline of workload 7 (webhook and a worker started with --live-logs,
 *   real nsqd, real containers) plus the server (startServer, in this process). For each
 *   push, the build's page is opened as soon as the server lists the build, and its live log
 *   (server-sent events) is read until the first step's line (`date +%s%N` in the container)
 *   arrives: push → line on the page, and the step's own clock → line on the page.
 * - ingest: build events (7 per build, as a worker publishes them) waiting on a paused
 *   channel of a real nsqd; the channel is unpaused and the server's store takes them all:
 *   events per second, nsqd to committed rows, metrics and queue listeners included.
 * - pages with many builds stored: the builds list, one build's page and /api/builds,
 *   asked of the server's app (no socket) over a store holding 100,000 builds.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { loggerFor } from '../../src/ci/logger';
import { serverApp, startServer } from '../../src/server/app';
import { buildEventWireSchema } from '../../src/server/event-wire';
import { EVENTS_TOPIC, SERVER_CHANNEL } from '../../src/server/ingest';
import { LiveStore } from '../../src/server/live-store';
import { TestNsq } from '../../test/helpers/nsq';
import { buildEvents } from '../../test/helpers/server-events';
import { waitFor } from '../../test/helpers/wait';
import { Pipeline, REPO } from './ci-pipeline';
import { summarize } from './stats';
import { Progress, Result } from './workloads';

export interface ServerScale {
  /** Pushes whose first log line is timed. */
  livePushes: number;
  /** Builds whose events (7 each) are ingested. */
  ingestBuilds: number;
  /** Builds stored when the pages are rendered. */
  storedBuilds: number;
}

const wallMs = () => performance.timeOrigin + performance.now();
const silent = () => loggerFor('bench-server').child({}, { level: 'warn' });

/** Reads build `id`'s live log until a line holding the step's nanosecond clock arrives; returns it and when. */
async function firstStepLine(url: string, id: number): Promise<{ printedAtMs: number; seenAtMs: number }> {
  const response = await fetch(`${url}/builds/${id}/events?from=0`, { signal: AbortSignal.timeout(120_000) });
  if (!response.ok || !response.body) throw new Error(`live log of build ${id}: ${response.status}`);
  const decoder = new TextDecoder();
  let buffered = '';
  for await (const bytes of response.body as AsyncIterable<Uint8Array>) {
    buffered += decoder.decode(bytes, { stream: true });
    const [, ns] = /^data: .*?\b(\d{18,20})\b/m.exec(buffered) ?? [];
    // Leaving the loop cancels the stream: the page is closed.
    if (ns !== undefined) return { printedAtMs: Number(BigInt(ns) / 1000n) / 1000, seenAtMs: wallMs() };
    if (/^event: end$/m.test(buffered)) break;
  }
  throw new Error(`build ${id}'s live log ended without the first step's line`);
}

async function liveLog(pushes: number, progress: Progress): Promise<Result[]> {
  const pushToLine: Result = { workload: 'CI server: push → first log line on the open build page (SSE)', peer: 'lxcts', unit: 'ms' };
  const printToLine: Result = { workload: 'CI server: line printed by a step → on the open build page (SSE)', peer: 'lxcts', unit: 'ms' };
  const pipeline = new Pipeline();
  let server: Awaited<ReturnType<typeof startServer>> | undefined;
  try {
    await pipeline.start();
    server = await startServer({
      dataDir: pipeline.ci.data.root,
      host: '127.0.0.1',
      port: 0,
      nsqdTcp: [pipeline.nsq.nsqdTcp],
      nsqdHttp: [pipeline.nsq.nsqdHttp],
      log: silent(),
    });
    const url = server.url;
    await pipeline.workers(1, ['--live-logs']);
    // The first build makes the host base and the mirror: not measured.
    const warm = pipeline.newCommit('main', 'server warm-up');
    await pipeline.push(warm, 'main');
    await pipeline.finished([warm]);
    const toLine: number[] = [];
    const fromPrint: number[] = [];
    for (let i = 0; i < pushes; i++) {
      const commit = pipeline.newCommit('main', `server live ${i}`);
      const sentAt = wallMs();
      await pipeline.push(commit, 'main');
      let id = 0;
      await waitFor(
        async () => {
          const { builds } = (await (await fetch(`${url}/api/builds?repo=${REPO}&limit=5`)).json()) as { builds: Array<{ id: number; commit: string }> };
          id = builds.find((b) => b.commit === commit)?.id ?? 0;
          return id !== 0;
        },
        `the server to list the build of ${commit}`,
        { seconds: 120, everyMs: 5 },
      );
      const line = await firstStepLine(url, id);
      toLine.push(line.seenAtMs - sentAt);
      fromPrint.push(line.seenAtMs - line.printedAtMs);
      await pipeline.finished([commit]);
    }
    pushToLine.summary = summarize(toLine);
    printToLine.summary = summarize(fromPrint);
    progress('CI server: live log');
  } catch (err) {
    for (const r of [pushToLine, printToLine]) if (!r.summary) r.error = (err as Error).message;
  } finally {
    await server?.close();
    await pipeline.stop();
  }
  return [pushToLine, printToLine];
}

async function ingest(builds: number, progress: Progress): Promise<Result> {
  const result: Result = { workload: 'CI server: build events ingested (nsqd → store)', peer: 'lxcts', unit: 'events per second' };
  const nsq = new TestNsq();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lxcts-bench-server-'));
  let server: Awaited<ReturnType<typeof startServer>> | undefined;
  const channelUrl = (what: string) => `http://${nsq.nsqdHttp}/channel/${what}?topic=${EVENTS_TOPIC}&channel=${SERVER_CHANNEL}`;
  try {
    await nsq.start();
    await nsq.createChannel(EVENTS_TOPIC, SERVER_CHANNEL);
    server = await startServer({ dataDir: dir, host: '127.0.0.1', port: 0, nsqdTcp: [nsq.nsqdTcp], nsqdHttp: [nsq.nsqdHttp], log: silent() });
    await fetch(channelUrl('pause'), { method: 'POST' });
    const bodies = Array.from({ length: builds }, (_, i) => buildEvents({ id: i + 1, job: i % 2 ? 'docs' : 'binaries' }).events).flat();
    for (let i = 0; i < bodies.length; i += 500) {
      const r = await fetch(`http://${nsq.nsqdHttp}/mpub?topic=${EVENTS_TOPIC}`, { method: 'POST', body: bodies.slice(i, i + 500).join('\n') });
      if (!r.ok) throw new Error(`nsqd /mpub: ${r.status}`);
    }
    const finished = async () => {
      const stats = (await (await fetch(`http://${nsq.nsqdHttp}/stats?format=json&topic=${EVENTS_TOPIC}`)).json()) as {
        topics: Array<{ channels: Array<{ channel_name: string; clients: Array<{ finish_count: number }> | null }> }> | null;
      };
      const channel = stats.topics?.[0]?.channels.find((c) => c.channel_name === SERVER_CHANNEL);
      return (channel?.clients ?? []).reduce((n, c) => n + c.finish_count, 0);
    };
    const t0 = wallMs();
    await fetch(channelUrl('unpause'), { method: 'POST' });
    // Every message is finished only once its write committed (ingest.ts).
    await waitFor(async () => (await finished()) >= bodies.length, `${bodies.length} events stored`, { seconds: 600, everyMs: 5 });
    const perSecond = bodies.length / ((wallMs() - t0) / 1000);
    result.summary = summarize([perSecond]);
    result.extra = { events: bodies.length, builds };
    progress('CI server: ingest');
  } catch (err) {
    result.error = (err as Error).message;
  } finally {
    await server?.close();
    await nsq.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return result;
}

/** The builds list and one build's page (and their JSON), each fetched from a store holding `builds` builds. */
export async function pagesWithStoredBuilds(builds: number, progress: Progress): Promise<Result[]> {
  const rows: Array<[string, (id: number) => string]> = [
    [`CI server: builds page rendered, ${builds} builds stored`, () => '/'],
    [`CI server: a build page rendered, ${builds} builds stored`, (id) => `/builds/${id}`],
    [`CI server: /api/builds answered, ${builds} builds stored`, () => '/api/builds?limit=50'],
  ];
  const results: Result[] = rows.map(([workload]) => ({ workload, peer: 'lxcts', unit: 'ms' }));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lxcts-bench-render-'));
  const store = new LiveStore(path.join(dir, 'server.sqlite'));
  try {
    // Only each build's finished event: the store makes the whole row from it (a finished
    // event that comes first still ends the build), which keeps filling 100,000 rows short.
    for (let id = 1; id <= builds; id++) {
      const { events } = buildEvents({
        id,
        repo: `octo/repo-${id % 50}`,
        branch: id % 7 === 0 ? 'next' : 'main',
        job: id % 2 ? 'docs' : 'binaries',
        commit: id.toString(16).padStart(40, '0'),
        status: id % 10 === 0 ? 'failure' : 'success',
      });
      store.ingestEvent(buildEventWireSchema.parse(JSON.parse(events[events.length - 1] as string)));
    }
    const app = serverApp({ store, binariesRoot: path.join(dir, 'binaries'), docsRoot: path.join(dir, 'docs') });
    const times = rows.map((): number[] => []);
    for (let round = 0; round < 60; round++) {
      for (const [i, [, url]] of rows.entries()) {
        const t0 = performance.now();
        const response = await app.request(url(1 + ((round * 7919) % builds)));
        await response.text();
        if (!response.ok) throw new Error(`${url(1)}: ${response.status}`);
        // The first rounds warm the statement cache and the JIT: not measured.
        if (round >= 10) times[i]?.push(performance.now() - t0);
      }
    }
    for (const [i, result] of results.entries()) result.summary = summarize(times[i] ?? []);
    progress('CI server: pages with many builds stored');
  } catch (err) {
    for (const r of results) r.error = (err as Error).message;
  } finally {
    store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return results;
}

export async function runCiServer(scale: ServerScale, progress: Progress): Promise<Result[]> {
  return [
    ...(await liveLog(scale.livePushes, progress)),
    await ingest(scale.ingestBuilds, progress),
    ...(await pagesWithStoredBuilds(scale.storedBuilds, progress)),
  ];
}
