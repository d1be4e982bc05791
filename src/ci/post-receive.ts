/**
 * The post-receive hook that `lxcts ci hook install` puts in a bare repository: for every
 * ref pushed, it sends the same signed push event GitHub would, so the whole pipeline
 * works from a self-hosted git server. The hook script runs `lxcts ci hook notify`, which
 * calls notify() below; delivery and the spool are in hook-spool.ts.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { HookSpool, RETRY_FOR_MS } from './hook-spool';
import { localRepository } from './names';
import { ZERO_SHA } from './push-event';

/**
 * The push event of one ref update. The repository is named as `lxcts ci build` names the
 * same path (local/<dir>-<hash of the real path>), so hook builds and manual builds share
 * their records and published places; the clone URL is the real path, which the workers
 * must allow (--allow-local with this repository's directory or a parent).
 */
export function pushPayload(repoDir: string, oldSha: string, newSha: string, ref: string, pusher: string): Record<string, unknown> {
  const real = fs.realpathSync(repoDir);
  const fullName = localRepository(real);
  const name = fullName.slice('local/'.length);
  return {
    ref,
    before: oldSha,
    after: newSha,
    created: oldSha === ZERO_SHA,
    deleted: newSha === ZERO_SHA,
    // pushed_at, as GitHub sends it: the same (before, after) pushed again later is a new push.
    repository: { name, full_name: fullName, clone_url: real, owner: { name: 'local' }, pushed_at: Math.floor(Date.now() / 1000) },
    pusher: { name: pusher },
    sender: { login: pusher },
  };
}

/** A ref update line as git gives it on a hook's stdin: `<old> <new> <ref>`. */
const UPDATE = /^([0-9a-f]{40}|[0-9a-f]{64}) ([0-9a-f]{40}|[0-9a-f]{64}) (refs\/\S+)$/;

/** Where the hook script keeps ref updates when it cannot find lxcts at all. */
export const UNSENT_FILE = path.join('lxcts', 'unsent', 'ref-updates');

/**
 * Spools ref updates the hook script had to keep itself (lxcts was missing when they were
 * pushed), so that they are sent like any other push.
 */
export function adoptUnsent(spool: HookSpool, pusher: string): number {
  const file = path.join(spool.repo, UNSENT_FILE);
  if (!fs.existsSync(file)) return 0;
  const taken = `${file}.${process.pid}`;
  fs.renameSync(file, taken);
  const n = spoolUpdates(spool, fs.readFileSync(taken, 'utf8'), pusher);
  fs.rmSync(taken, { force: true });
  return n;
}

function spoolUpdates(spool: HookSpool, updates: string, pusher: string): number {
  let n = 0;
  for (const line of updates.split('\n')) {
    const [, before, after, ref] = UPDATE.exec(line.trim()) ?? [];
    if (before === undefined || after === undefined || ref === undefined) continue;
    spool.add(JSON.stringify(pushPayload(spool.repo, before, after, ref, pusher)));
    n++;
  }
  return n;
}

/**
 * What the post-receive hook does: every ref update becomes a signed push event, written to
 * the repository's spool first, then everything spooled is sent oldest first. What cannot
 * be sent now stays spooled, and a detached `lxcts ci hook flush REPO --retry` (started
 * with `lxctsBin`, when given) keeps trying. Returns lines for the pusher's terminal.
 */
export async function notify(repoDir: string, updates: string, lxctsBin: string | null): Promise<string[]> {
  const spool = new HookSpool(repoDir);
  const pusher = os.userInfo().username;
  adoptUnsent(spool, pusher);
  spoolUpdates(spool, updates, pusher);
  const report = await spool.flush();
  const lines = (report?.lines ?? []).map((l) => `lxcts: ${l}`);
  const pending = spool.pending().length;
  if (pending > 0) {
    const why = report ? report.error : 'another delivery of this repository is in progress';
    let next = `run: lxcts ci hook flush ${repoDir}`;
    if (lxctsBin) {
      spool.startRetrying(lxctsBin);
      next = `retrying in the background for up to ${RETRY_FOR_MS / 3_600_000} h, or ${next}`;
    }
    lines.push(`lxcts: the CI has not got ${pending} push event(s) yet (${why}); kept in ${spool.spool}: ${next}`);
  }
  return lines;
}

/** Hooks installed by older versions run this file directly: their pushes are spooled too. */
async function main(): Promise<void> {
  const repo = path.resolve(process.env.GIT_DIR ?? '.');
  const lines = await notify(repo, fs.readFileSync(0, 'utf8'), path.resolve(__dirname, '..', '..', 'bin', 'run.js'));
  for (const line of lines) process.stderr.write(`${line}\n`);
  process.stderr.write(`lxcts: this hook runs a file inside an lxcts installation; run lxcts ci hook install ${repo} again\n`);
}

if (require.main === module) {
  main().catch((err: Error) => {
    // A failed notification must not fail the push itself.
    process.stderr.write(`lxcts: could not notify the CI: ${err.message}\n`);
  });
}
