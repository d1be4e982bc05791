#!/usr/bin/env node
// npm run demo: the whole CI on this machine, from a push to served binaries and docs.
//
// Starts `lxcts ci up` on a temporary data directory, makes the sample repository
// (examples/hello-ci) a bare repository with the post-receive hook, pushes a commit from a
// work clone, shows each job's log live (`lxcts ci logs ID --follow --server URL`), then
// checks what was published: the binaries against their SHA256SUMS (as `sha256sum -c`
// does) and the docs page. Everything it made is removed at the end, on failure and on
// Ctrl-C. `--keep` leaves the CI running until Ctrl-C, to look at the dashboard.
'use strict';
const { spawn, execFile } = require('node:child_process');
const { createHash } = require('node:crypto');
const { once } = require('node:events');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');
const { setTimeout: sleep } = require('node:timers/promises');
const { promisify } = require('node:util');
const { Container, listContainers } = require('lxcts');

const CLI = path.join(__dirname, '..', 'bin', 'run.js');
const SAMPLE = path.join(__dirname, 'hello-ci');
/** The sample's jobs (examples/hello-ci/.lxcts.yml), each built in a container of its own. */
const JOBS = ['binaries', 'docs'];
const args = process.argv.slice(2);
if (args.some((a) => a !== '--keep')) {
  process.stderr.write(
    'usage: npm run demo [-- --keep]   (node examples/demo.js [--keep])\n  --keep  leave the CI running until Ctrl-C, to look at the dashboard\n',
  );
  process.exit(2);
}
const keep = args.includes('--keep');
const run = promisify(execFile);

// The commit is made with an identity of its own and no user or system git config: a brand-new
// machine has none, and a developer's (signing, hooks) must not change what the demo does.
const GIT_ENV = { ...process.env, GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1' };
const GIT_IDENTITY = ['-c', 'user.name=lxcts demo', '-c', 'user.email=demo@lxcts.invalid', '-c', 'commit.gpgsign=false'];
const git = (args, options = {}) => run('git', [...GIT_IDENTITY, ...args], { env: GIT_ENV, ...options });

const stop = new AbortController();
const started = Date.now();
const seconds = () => `${((Date.now() - started) / 1000).toFixed(1)} s`;
const say = (line = '') => process.stdout.write(`${line}\n`);

/** What the demo made, so that cleanup removes exactly that. */
const made = { root: null, up: null, upExit: null, followers: new Set() };

async function main() {
  made.root = fs.mkdtempSync(path.join(os.tmpdir(), 'lxcts-demo-'));
  // Build containers run as an unprivileged uid: it must be able to pass through to the checkout.
  fs.chmodSync(made.root, 0o711);
  const data = path.join(made.root, 'data');
  const upLog = path.join(made.root, 'ci-up.log');
  say('lxcts demo: the whole CI on this machine, in a temporary directory removed at the end');
  say(`  temporary directory: ${made.root}`);

  say('1/5 starting lxcts ci up: nsqd, nsqlookupd, the webhook receiver, the dashboard, a worker for binaries and one for docs');
  const up = await startUp(data, upLog);
  say(`    ready after ${seconds()} (its output: ${upLog})`);

  say('2/5 the sample repository examples/hello-ci as a bare repository, with the post-receive hook');
  // Under <data>/repos: the directory ci up's workers may clone local repositories from.
  const bare = path.join(data, 'repos', 'hello-ci.git');
  await git(['init', '--quiet', '--bare', '--initial-branch=main', bare]);
  const { stdout: installed } = await run(
    process.execPath,
    [CLI, 'ci', 'hook', 'install', bare, '--url', up.webhook, '--secret-file', up.webhookSecretFile, '--lxcts', CLI, '--data-dir', data, '--json'],
    { env: process.env, signal: stop.signal },
  );
  const { repo } = JSON.parse(installed);
  say(`    ${bare} (the CI calls it ${repo})`);

  say('3/5 a commit pushed to main from a work clone');
  const work = path.join(made.root, 'work');
  await git(['init', '--quiet', '--initial-branch=main', work]);
  // The clone's own identity and remote, so that a push with --keep needs no setup either.
  await git(['-C', work, 'config', 'user.name', 'lxcts demo']);
  await git(['-C', work, 'config', 'user.email', 'demo@lxcts.invalid']);
  await git(['-C', work, 'remote', 'add', 'origin', bare]);
  fs.cpSync(SAMPLE, work, { recursive: true, filter: (src) => !['bin', 'site'].includes(path.relative(SAMPLE, src)) });
  await git(['-C', work, 'add', '--all']);
  await git(['-C', work, 'commit', '--quiet', '-m', 'hello-ci: the sample, built by the demo']);
  const { stdout: sha } = await git(['-C', work, 'rev-parse', 'HEAD']);
  const commit = sha.trim();
  // The hook runs during the push: it sends the push event to the webhook receiver.
  const push = await git(['-C', work, 'push', '--quiet', '--set-upstream', 'origin', 'main'], { signal: stop.signal });
  // What the hook said, through git ("remote: lxcts: ...").
  for (const line of push.stderr.split('\n').filter((l) => l.trim() !== '')) say(`    ${line.replace(/^remote: /, 'hook: ').trimEnd()}`);
  say(`    pushed ${commit.slice(0, 12)}; the hook sent the push to the webhook receiver`);

  say(`4/5 building, each job in a fresh container; the log live from the dashboard (${up.dashboard}/):`);
  const builds = await Promise.all(JOBS.map((job) => buildOf(up.dashboard, repo, commit, job).then((build) => follow(up.dashboard, build))));
  for (const b of builds) {
    const steps = b.steps.map((s) => `\`${s.command}\` exit ${s.exitCode ?? '-'}${s.seconds === null ? '' : ` in ${s.seconds.toFixed(1)} s`}`);
    say(`    ${b.job}: ${b.status} (build ${b.id}: ${steps.join(', ') || 'no steps'})`);
  }
  const failed = builds.filter((b) => b.status !== 'success');
  if (failed.length > 0)
    throw new Error(`${failed.map((b) => `${b.job} ${b.status}`).join(', ')}: see the log above, or ${up.dashboard}/builds/${failed[0].id}`);

  say('5/5 checking what was published');
  const binaries = `${up.dashboard}${servedPath('binaries', repo, 'main')}`;
  const docs = `${up.dashboard}${servedPath('docs', repo, 'main')}`;
  const checked = await checkSums(binaries);
  say(`    binaries: ${binaries}`);
  for (const file of checked) say(`      ${file}: OK`);
  say(`      sha256sum -c SHA256SUMS: ${checked.length} file${checked.length === 1 ? '' : 's'} OK`);
  const page = await fetch(docs, { signal: stop.signal });
  const body = await page.text();
  if (page.status !== 200 || !body.includes('<h1>hello</h1>')) throw new Error(`the docs page ${docs} answered ${page.status}`);
  say(`    docs:     ${docs}`);
  say(`      ${page.status} OK`);
  say();
  say(`Dashboard: ${up.dashboard}/`);
  say(`Done in ${seconds()}: pushed, built, served and checked.`);
  if (keep) {
    say('Still running (--keep): open the dashboard, push to the repository again, look around.');
    say(`  another build: git -C ${work} commit --allow-empty -m again && git -C ${work} push`);
    say('Press Ctrl-C to stop everything and remove what the demo made.');
    await once(stop.signal, 'abort');
  }
}

/** `lxcts ci up` as a child in a process group of its own (the demo says when it stops); resolves with up.json. */
async function startUp(data, upLog) {
  fs.mkdirSync(data);
  const log = fs.openSync(upLog, 'a');
  const child = spawn(process.execPath, [CLI, 'ci', 'up', '--data-dir', data], { stdio: ['ignore', log, log], detached: true });
  fs.closeSync(log);
  made.up = child;
  made.upExit = once(child, 'exit').catch(() => undefined);
  const upJson = path.join(data, 'up.json');
  let exited = false;
  made.upExit.then(() => (exited = true));
  // A look at the data directory every 200 ms until ci up has written up.json (it does so last).
  const deadline = Date.now() + 180_000;
  while (!fs.existsSync(upJson)) {
    if (exited) throw new Error(`lxcts ci up stopped before it was ready; its output:\n${tail(upLog)}`);
    if (Date.now() > deadline) throw new Error(`lxcts ci up was not ready after 3 minutes; its output:\n${tail(upLog)}`);
    await sleep(200, undefined, { signal: stop.signal });
  }
  return JSON.parse(fs.readFileSync(upJson, 'utf8'));
}

/** The server's record of the build of `job` for `commit`, once its first event arrived. */
async function buildOf(dashboard, repo, commit, job) {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const query = new URLSearchParams({ repo, job, limit: '20' });
    const response = await fetch(`${dashboard}/api/builds?${query}`, { signal: stop.signal });
    if (response.ok) {
      const build = (await response.json()).builds.find((b) => b.commit === commit);
      if (build) return build;
    }
    if (Date.now() > deadline) throw new Error(`no ${job} build of ${commit.slice(0, 12)} reached the dashboard in 2 minutes`);
    await sleep(500, undefined, { signal: stop.signal });
  }
}

/** `lxcts ci logs ID --follow --server URL`, each line shown with the job in front; the build as it ended. */
async function follow(dashboard, build) {
  const child = spawn(process.execPath, [CLI, 'ci', 'logs', String(build.id), '--follow', '--server', dashboard], { stdio: ['ignore', 'pipe', 'pipe'] });
  made.followers.add(child);
  const width = Math.max(...JOBS.map((j) => j.length));
  const prefix = `    ${build.job.padEnd(width)} | `;
  const lines = readline.createInterface({ input: child.stdout });
  lines.on('line', (line) => say(`${prefix}${line}`));
  const errors = [];
  readline.createInterface({ input: child.stderr }).on('line', (line) => errors.push(line));
  const [code] = await once(child, 'close');
  made.followers.delete(child);
  if (stop.signal.aborted) throw new Error('interrupted');
  const response = await fetch(`${dashboard}/api/builds/${build.id}`, { signal: stop.signal });
  const ended = await response.json();
  // `ci logs --follow` exits 0 only for a successful build; anything else it says on stderr.
  if (code !== 0 && ended.status === 'success') throw new Error(`lxcts ci logs ${build.id} failed: ${errors.join(' ')}`);
  return ended;
}

/** A file's URL path below /binaries or /docs (the server's publishedUrl). */
function servedPath(kind, repo, ref) {
  return `/${kind}/${repo.split('/').map(encodeURIComponent).join('/')}/${encodeURIComponent(ref)}/`;
}

/** Downloads SHA256SUMS and every file it lists, and compares, as `sha256sum -c` does; returns the files. */
async function checkSums(base) {
  const sums = await fetch(`${base}SHA256SUMS`, { signal: stop.signal });
  if (sums.status !== 200) throw new Error(`${base}SHA256SUMS answered ${sums.status}`);
  const files = [];
  for (const line of (await sums.text()).split('\n').filter((l) => l !== '')) {
    // GNU's format: "<sum>  <name>", or "\<sum>  <name with \\, \n escaped>".
    const m = /^(\\?)([0-9a-f]{64}) [ *](.+)$/.exec(line);
    if (!m) throw new Error(`SHA256SUMS: not a checksum line: ${JSON.stringify(line)}`);
    const name = m[1] ? m[3].replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c === 'r' ? '\r' : c)) : m[3];
    const file = await fetch(`${base}${name.split('/').map(encodeURIComponent).join('/')}`, { signal: stop.signal });
    if (file.status !== 200) throw new Error(`${name}: ${file.status} from the server`);
    const actual = createHash('sha256')
      .update(Buffer.from(await file.arrayBuffer()))
      .digest('hex');
    if (actual !== m[2]) throw new Error(`${name}: FAILED (sha256 ${actual}, SHA256SUMS says ${m[2]})`);
    files.push(name);
  }
  if (files.length === 0) throw new Error(`${base}SHA256SUMS lists no file`);
  return files;
}

function tail(file, lines = 20) {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no output)';
  }
}

/** Stops ci up (workers first: their containers are destroyed) and removes everything the demo made. */
async function cleanup() {
  for (const child of made.followers) child.kill('SIGTERM');
  if (made.up && made.up.exitCode === null && made.up.signalCode === null) {
    say('Stopping lxcts ci up...');
    made.up.kill('SIGTERM');
    await made.upExit;
  }
  if (!made.root) return;
  const data = path.join(made.root, 'data');
  // The build bases (and a build container, had a worker died) are liblxc containers: destroyed,
  // not just deleted, so that liblxc keeps no state about them.
  const lxcpaths = [path.join(data, 'containers'), path.join(data, 'bases')];
  for (const lxcpath of lxcpaths.filter((p) => fs.existsSync(p))) {
    for (const name of await listContainers({ lxcpath })) {
      const c = new Container(name, { lxcpath });
      try {
        if (await c.running()) await c.stop();
        await c.destroy();
      } catch (err) {
        say(`  could not destroy container ${name} in ${lxcpath}: ${err.message}`);
      } finally {
        await c.release();
      }
    }
  }
  // Nothing should be mounted below the directory by now; a build killed mid-way might leave its scratch disk.
  const root = fs.realpathSync(made.root);
  const mounts = fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((m) => m.startsWith(`${root}/`))
    .sort()
    .reverse();
  for (const mount of mounts) await run('umount', ['-l', mount]).catch((err) => say(`  could not unmount ${mount}: ${err.message}`));
  fs.rmSync(made.root, { recursive: true, force: true });
  // liblxc's lock files for those lxcpaths (it never removes them), all below the directory's own.
  fs.rmSync(path.join('/run/lxc/lock', made.root), { recursive: true, force: true });
  say(`Removed ${made.root}.`);
}

// Ctrl-C (or SIGTERM): stop waiting and clean up; a second one hurries ci up along.
let signals = 0;
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    signals += 1;
    // Interrupted, also when it comes while the demo is already cleaning up: exit 130, as a shell expects.
    process.exitCode = 130;
    if (signals === 1) {
      say(`\n${sig === 'SIGINT' ? 'Ctrl-C' : sig}: stopping.`);
      stop.abort();
    } else if (made.up && made.up.exitCode === null) {
      made.up.kill('SIGTERM');
    }
  });
}

main()
  .catch((err) => {
    if (stop.signal.aborted) {
      process.exitCode = 130;
      return;
    }
    say();
    say(`demo failed: ${err.message}`);
    process.exitCode = 1;
  })
  .finally(() => cleanup())
  .catch((err) => {
    say(`cleanup failed: ${err.message}`);
    process.exitCode = 1;
  });
