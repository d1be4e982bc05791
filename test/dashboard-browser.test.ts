/**
 * The dashboard in a real browser (Debian's Chromium through playwright-core), over the
 * real system: a `git push` to a bare repository whose post-receive hook sends the push to
 * a real receiver process, nsqd, a real worker process (--live-logs) building it in a real
 * container, and the server (startServer) serving the worker's data directory. The builds
 * list turns the build from running to success without a reload, the build page shows log
 * lines as they are printed, its docs link opens the docs, and its artifact link downloads
 * the file whose SHA-256 the page and SHA256SUMS give.
 *
 * Screenshots go to test-output/browser/; with LXCTS_README_SCREENSHOT=1 the build page is
 * also written to docs/dashboard.png (1200x700) for the README.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

import type { Browser, BrowserContext, Page } from 'playwright-core';

import { loggerFor } from '../src/ci/logger';
import { type RunningServer, startServer } from '../src/server/app';
import { BROWSER_OUTPUT, launchChromium, recordErrors } from './helpers/browser';
import { CiSandbox } from './helpers/ci-data';
import { lxcts } from './helpers/cli';
import { lxctsOnPath } from './helpers/lxcts-shim';
import { must } from './helpers/must';
import { freePort, TestNsq } from './helpers/nsq';
import { CliProcesses } from './helpers/pipeline';
import { ROOT } from './helpers/root';
import { TestRepo } from './helpers/repo';

const TOPIC = 'lxcts.pushes';
/** The step that keeps the build running for a while, printing a line a second. */
const TICKS = 20;
const TICK = new RegExp(`^check \\d+/${TICKS}: ok$`, 'gm');
const BUILD_FILE = `jobs:
  binaries:
    branches: [main]
    steps: [make build, 'for i in $(seq ${TICKS}); do echo "check $i/${TICKS}: ok"; sleep 1; done', make docs]
    artifacts: [bin/*]
    docs: site/
`;
const README_SCREENSHOT = process.env.LXCTS_README_SCREENSHOT === '1';

const nsq = new TestNsq();
const ci = new CiSandbox('dashboard-browser');
const procs = new CliProcesses(ci.data.root);
const secretFile = path.join(ci.data.root, 'secret');
let server: RunningServer | undefined;
let browser: Browser | undefined;
let context: BrowserContext | undefined;
/** Console errors and uncaught exceptions on the dashboard's pages. */
const errors: string[] = [];

beforeAll(async () => {
  fs.mkdirSync(BROWSER_OUTPUT, { recursive: true });
  fs.writeFileSync(secretFile, 'browser-secret\n');
  await nsq.start();
  await nsq.createChannel(TOPIC, 'binaries');
  browser = await launchChromium();
  context = await browser.newContext({ viewport: { width: 1200, height: 700 }, acceptDownloads: true });
}, 60_000);

afterAll(async () => {
  // Each step runs whatever the one before it did: a failed close must not leave the rest.
  const steps: (() => Promise<unknown> | void)[] = [
    () => context?.close(),
    () => browser?.close(),
    () => server?.close(),
    () => procs.killAll(),
    () => nsq.stop(),
    () => ci.cleanup(),
  ];
  const failures: unknown[] = [];
  for (const step of steps)
    await Promise.resolve()
      .then(step)
      .catch((err: unknown) => failures.push(err));
  if (failures.length) throw new AggregateError(failures, 'cleanup failed');
}, 60_000);

/** A bare repository with the post-receive hook pointing at the receiver on `port`, and a clone to push from. */
function hookedRepository(port: number): { bare: string; work: TestRepo } {
  const shim = lxctsOnPath(path.join(ci.data.root, 'shim-bin'));
  const bare = path.join(ci.data.root, 'repos', 'hello-ci.git');
  execFileSync('git', ['init', '-q', '--bare', bare]);
  const install = lxcts('/nonexistent', ['ci', 'hook', 'install', bare, '--url', `http://127.0.0.1:${port}/hooks/github`, '--secret-file', secretFile], {
    env: { PATH: shim.PATH },
  });
  expect(install.status).toBe(0);
  return { bare, work: TestRepo.create(path.join(ci.data.root, 'repos', 'hello-ci-work'), BUILD_FILE) };
}

/** Counts the page's own navigations, and leaves a mark in its window that a reload would wipe. */
async function watchForReloads(page: Page): Promise<() => Promise<{ navigations: number; marked: boolean }>> {
  let navigations = 0;
  page.on('framenavigated', (frame) => {
    if (frame === page.mainFrame()) navigations++;
  });
  // Page-side code as strings: it runs in the browser, and this project's TypeScript has no DOM types.
  await page.evaluate("window.lxctsTestMark = 'same document'");
  return async () => ({ navigations, marked: await page.evaluate<boolean>("window.lxctsTestMark === 'same document'") });
}

const ticksIn = (text: string) => (text.match(TICK) ?? []).length;

test('the dashboard shows a pushed build running then finished without a reload, its live log, its docs and its artifact', async () => {
  const receiverPort = await freePort();
  await procs.startReceiver(receiverPort, '--secret-file', secretFile, '--nsqd-http', nsq.nsqdHttp, '--topic', TOPIC);
  const worker = procs.startWorker(
    ['--nsqd-tcp', nsq.nsqdTcp, '--nsqd-http', nsq.nsqdHttp, '--topic', TOPIC],
    'binaries',
    '--live-logs',
    '--allow-local',
    ci.data.root,
  );
  server = await startServer({ dataDir: ci.data.root, host: '127.0.0.1', port: 0, nsqdTcp: [nsq.nsqdTcp], nsqdHttp: [nsq.nsqdHttp], log: loggerFor('server') });
  const url = server.url;
  const logs = () => `worker log:\n${procs.logOf(worker)}\nerrors seen: ${errors.join('\n')}`;
  const { bare, work } = hookedRepository(receiverPort);
  const ctx = must(context, 'the browser context');

  // The builds list, opened before anything was pushed.
  const list = await ctx.newPage();
  recordErrors(list, errors);
  await list.goto(url);
  await expect(list.getByText('No builds yet').isVisible()).resolves.toBe(true);
  const listReloads = await watchForReloads(list);

  const push = spawnSync('git', ['push', '-q', bare, 'HEAD:main'], { cwd: work.dir, encoding: 'utf8' });
  expect(push.status).toBe(0);
  const commit = work.git('rev-parse', 'HEAD');
  // The hook says the receiver took it (and not that it was spooled for later).
  expect(push.stderr).toContain(`refs/heads/main ${commit.slice(0, 12)}`);
  expect(push.stderr).toContain('"accepted":true,"spooled":false');

  // The new build appears in the list, running, with no reload.
  const row = list.locator('#builds tr', { hasText: commit.slice(0, 12) });
  /** Waits for the row to show `status`, then checks that the list is still the page first loaded. */
  const rowTurns = async (status: string) => {
    await row
      .locator(`.s-${status}`)
      .waitFor({ timeout: 180_000 })
      .catch((err: Error) => Promise.reject(new Error(`${err.message}\n${logs()}`)));
    expect(await listReloads()).toEqual({ navigations: 0, marked: true });
    await list.screenshot({ path: path.join(BROWSER_OUTPUT, `builds-${status}.png`) });
  };
  await rowTurns('running');

  // Its page, opened while it runs: lines printed after it loaded appear in the log.
  const buildPath = must(await row.locator('a[href^="/builds/"]').first().getAttribute('href'), 'the link to the build');
  const build = await ctx.newPage();
  recordErrors(build, errors);
  await build.goto(new URL(buildPath, url).href);
  const buildReloads = await watchForReloads(build);
  const ticksAtLoad = ticksIn(must(await build.locator('#log').textContent(), 'the log'));
  expect(ticksAtLoad).toBeLessThan(TICKS);
  const moreTicks = `(document.getElementById('log').textContent.match(${TICK}) || []).length > ${ticksAtLoad}`;
  await build.waitForFunction(moreTicks, undefined, { timeout: 60_000 });
  // Appended to the page that was loaded, not a new one.
  expect(await buildReloads()).toEqual({ navigations: 0, marked: true });
  await build.screenshot({ path: path.join(BROWSER_OUTPUT, 'build-live.png') });

  // The list turns the row to success in place.
  await rowTurns('success');

  // The finished build page: steps, artifacts with their SHA-256, the docs link.
  await build.locator('#status.s-success').waitFor({ timeout: 60_000 });
  const artifact = build.getByRole('link', { name: 'bin/hello', exact: true });
  await artifact.waitFor({ timeout: 60_000 });
  expect(ticksIn(must(await build.locator('#log').textContent(), 'the log'))).toBe(TICKS);
  // The live page followed the log down, and the reload kept its place: back to the top.
  await build.evaluate('window.scrollTo(0, 0)');
  await build.screenshot({ path: path.join(BROWSER_OUTPUT, 'build-finished.png'), fullPage: true });
  if (README_SCREENSHOT) await build.screenshot({ path: path.join(ROOT, 'docs', 'dashboard.png') });

  // The artifact, downloaded through its link, is the file the page and SHA256SUMS name.
  const shownSum = must(await build.locator('tr', { has: artifact }).locator('code').textContent(), "the artifact's SHA-256 on the page");
  const [download] = await Promise.all([build.waitForEvent('download'), artifact.click()]);
  const saved = must(await download.path(), 'the downloaded file');
  const sum = createHash('sha256').update(fs.readFileSync(saved)).digest('hex');
  expect(sum).toBe(shownSum);
  const sums = await (await fetch(new URL(must(await build.getByRole('link', { name: 'SHA256SUMS' }).getAttribute('href'), 'SHA256SUMS link'), url))).text();
  expect(sums).toContain(`${sum}  bin/hello\n`);
  // ...and the file the worker published into the data directory the server serves.
  const api = (await (await fetch(new URL(`/api${buildPath}`, url))).json()) as { repo: string; commit: string; artifacts: string[] };
  expect(api).toMatchObject({ commit, artifacts: ['bin/hello'] });
  const published = path.join(ci.data.binaries, api.repo, commit, 'bin', 'hello');
  expect(createHash('sha256').update(fs.readFileSync(published)).digest('hex')).toBe(sum);

  // Its docs, through the link on the build page.
  const docsLink = build.locator('dd a[href^="/docs/"]');
  const [docsResponse] = await Promise.all([build.waitForResponse((r) => new URL(r.url()).pathname.startsWith('/docs/')), docsLink.click()]);
  expect(docsResponse.status()).toBe(200);
  await expect(build.locator('h1').textContent()).resolves.toBe('hello');
  expect(await build.locator('body').textContent()).toContain('version');

  // Only console errors from the dashboard's own pages count (the docs are the project's).
  expect(errors.filter((e) => !e.startsWith(`${url}/docs/`))).toEqual([]);
}, 420_000);
