/**
 * Secrets in real builds, in real containers: a job gets the secrets its build file names
 * as variables of its steps (exactly, never on a command line or in the container's
 * config), and their values are masked in the log on disk, in the live chunks and in the
 * events, whole, split across two writes and base64-encoded. A job that does not name a
 * secret does not get it; one naming a secret the repository lacks, or a build not given
 * secrets (a fork's pull request), fails saying which.
 */
import { createHash, randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

import type { BuildEvent } from '../src/ci/builder';
import { LogChunk, logChunkSchema, LogChunks } from '../src/ci/log-chunks';
import { SecretStore } from '../src/ci/secret-store';
import { identify } from '../src/ci/git';
import { lxcts } from './helpers/cli';
import { CiSandbox } from './helpers/ci-data';
import { must } from './helpers/must';
import { TestRepo } from './helpers/repo';

const ci = new CiSandbox('secrets');
afterAll(() => ci.cleanup());

const REPO = 'octo/secret-test';
// Random per run: nothing else in a log or a process list could match it by chance.
const VALUE = `tok-${randomUUID()}`;
const SHA = createHash('sha256').update(VALUE).digest('hex');

/** One step as a YAML literal block: the shell sees it exactly as written here. */
const step = (command: string) => `      - |-\n        ${command}\n`;

const BUILD_FILE = `jobs:
  uses:
    secrets: [DEPLOY_KEY]
    steps:
${[
  `test "$(printf %s "$DEPLOY_KEY" | sha256sum | cut -d' ' -f1)" = ${SHA} && echo value-arrived-exactly`,
  `printf 'whole: %s\\n' "$DEPLOY_KEY"`,
  `printf 'split: %s' "$(printf %s "$DEPLOY_KEY" | cut -c1-12)"; sleep 1; printf '%s :end\\n' "$(printf %s "$DEPLOY_KEY" | cut -c13-)"`,
  `printf %s "$DEPLOY_KEY" | base64 -w0; echo; printf 'x%s' "$DEPLOY_KEY" | base64 -w0; echo`,
  `if tr '\\0' '\\n' </proc/1/environ | grep -q DEPLOY_KEY; then echo init-has-it; else echo init-has-not; fi`,
]
  .map(step)
  .join('')}  plain:
    steps:
${step(`printf 'plain sees [%s]\\n' "\${DEPLOY_KEY-unset}"`)}  missing:
    secrets: [DEPLOY_KEY, NOT_SET]
    steps: [echo never runs]
`;

interface Seen {
  events: BuildEvent[];
  chunks: LogChunk[];
  /** Where the value was found on the host while a step ran. */
  leaks: string[];
}

async function build(repo: TestRepo, job: string, options: { secrets?: boolean; force?: boolean } = {}) {
  const seen: Seen = { events: [], chunks: [], leaks: [] };
  const live = new LogChunks({ send: (body) => Promise.resolve(void seen.chunks.push(logChunkSchema.parse(JSON.parse(body)))) });
  const [result] = await ci.builder().build({
    source: repo.dir,
    repo: REPO,
    job,
    secrets: options.secrets,
    force: options.force,
    output: live,
    onEvent: (event) => {
      seen.events.push(event);
      if (event.type === 'queued') live.bind(randomUUID());
      if (event.type === 'step-started') seen.leaks.push(...hostLeaks(event.build.container));
    },
  });
  await live.close();
  return { result: must(result, 'a job result'), ...seen };
}

/** Host places a secret must never be: any process's command line, the container's config. */
function hostLeaks(container: string | null): string[] {
  const found: string[] = [];
  for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      if (fs.readFileSync(`/proc/${pid}/cmdline`).includes(VALUE)) found.push(`cmdline of ${pid}`);
    } catch {
      // gone meanwhile
    }
  }
  const dir = path.join(ci.data.containers, must(container, 'the build container'));
  for (const file of fs.readdirSync(dir)) {
    const full = path.join(dir, file);
    if (fs.statSync(full).isFile() && fs.readFileSync(full).includes(VALUE)) found.push(full);
  }
  return found;
}

const liveText = (chunks: LogChunk[]) => Buffer.concat([...chunks].sort((a, b) => a.seq - b.seq).map((c) => Buffer.from(c.data, 'base64'))).toString();

/** Every form the build printed the value in. */
const forms = [VALUE, Buffer.from(VALUE).toString('base64'), Buffer.from(VALUE).toString('base64').replace(/=+$/, '')];

let repo: TestRepo;
beforeAll(() => {
  repo = TestRepo.create(path.join(ci.data.root, 'repos', 'secret-test'), BUILD_FILE);
  const store = new SecretStore(ci.data.root);
  try {
    store.set(REPO, 'DEPLOY_KEY', Buffer.from(VALUE));
  } finally {
    store.close();
  }
});

test('a job gets the secrets it names, masked whole, split across writes and in base64 in the log, the live chunks and the events', async () => {
  const { result, events, chunks, leaks } = await build(repo, 'uses', { secrets: true });
  const log = fs.readFileSync(must(result.logPath, 'the log'), 'utf8');
  expect(result.status).toBe('success');
  expect(log).toContain('value-arrived-exactly');
  expect(log).toContain('whole: ***\n');
  expect(log).toContain('split: *** :end\n');
  // Its own base64 and the base64 of a longer stream it sits in (alignment 1).
  expect(log).toMatch(/^\*\*\*\n\w{0,3}\*\*\*\w{0,4}=*\n/m);
  // The container's init never had it: only the step's own environment.
  expect(log).toContain('init-has-not');
  const live = liveText(chunks);
  expect(live).toContain('whole: ***\n');
  expect(live).toContain('split: *** :end\n');
  const wire = JSON.stringify(events);
  for (const form of forms) {
    expect(log).not.toContain(form);
    expect(live).not.toContain(form);
    expect(wire).not.toContain(form);
  }
  expect(leaks).toEqual([]);
  expect(ci.leftovers()).toEqual({ containers: [], workspaces: [] });
});

test('a job that does not name the secret does not get it', async () => {
  const { result } = await build(repo, 'plain', { secrets: true });
  expect(result.status).toBe('success');
  expect(fs.readFileSync(must(result.logPath, 'the log'), 'utf8')).toContain('plain sees [unset]');
});

test('a secret the repository lacks fails the job, naming it; a build not given secrets fails before any step', async () => {
  const missing = await build(repo, 'missing', { secrets: true });
  expect(missing.result).toMatchObject({ status: 'failure', message: expect.stringContaining('has no secret NOT_SET') });
  expect(fs.readFileSync(must(missing.result.logPath, 'the log'), 'utf8')).not.toContain('never runs\n');
  // The same commit again (forced: it succeeded above), as a fork's pull request would be built.
  const refused = await build(repo, 'uses', { secrets: false, force: true });
  expect(refused.result).toMatchObject({ status: 'failure', message: expect.stringContaining('secrets DEPLOY_KEY are not given to this build') });
  expect(refused.events.filter((e) => e.type === 'step-started')).toEqual([]);
  expect(ci.leftovers()).toEqual({ containers: [], workspaces: [] });
});

test('ci build gives the secrets only with --secrets, and prints them masked', () => {
  // A local repository is named by its path: its secrets are set under that name.
  const local = identify(repo.dir).repo;
  const store = new SecretStore(ci.data.root);
  try {
    store.set(local, 'DEPLOY_KEY', Buffer.from(VALUE));
  } finally {
    store.close();
  }
  const run = (...flags: string[]) =>
    lxcts(ci.data.containers, ['ci', 'build', repo.dir, '--job', 'uses', '--force', '--data-dir', ci.data.root, ...flags], { timeout: 300_000 });
  const without = run();
  expect(without.status).toBe(1);
  expect(without.stdout).toContain('uses: failure (secrets DEPLOY_KEY are not given to this build');
  const given = run('--secrets');
  expect(given.stderr).toBe('');
  expect(given.status).toBe(0);
  // The terminal's copy of the log went through the same masking.
  expect(given.stdout).toContain('whole: ***\n');
  expect(given.stdout).toContain('split: *** :end\n');
  expect(given.stdout).not.toContain(VALUE);
});

test('a value that occurs in the build file itself is masked in step events and the failure message', async () => {
  repo.write('.lxcts.yml', `jobs:\n  literal:\n    secrets: [DEPLOY_KEY]\n    steps: ['test "$DEPLOY_KEY" = ${VALUE} && exit 3']\n`);
  repo.commit('literal');
  const { result, events } = await build(repo, 'literal', { secrets: true });
  expect(result).toMatchObject({ status: 'failure', exitCode: 3 });
  expect(result.message).toContain('= *** && exit 3');
  const started = events.find((e) => e.type === 'step-started');
  expect(started).toMatchObject({ command: expect.stringContaining('= *** && exit 3') });
  expect(JSON.stringify(events)).not.toContain(VALUE);
  expect(fs.readFileSync(must(result.logPath, 'the log'), 'utf8')).not.toContain(VALUE);
});
