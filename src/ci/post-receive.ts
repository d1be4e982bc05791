/**
 * The post-receive hook that `lxcts ci hook install` puts in a bare repository: for every
 * ref pushed, it sends the same signed push event GitHub would, so the whole pipeline
 * works from a self-hosted git server.
 *   post-receive.js --url URL --secret-file FILE   (ref updates on stdin, as git gives them)
 */
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { parseArgs } from 'node:util';

import { sign } from '@octokit/webhooks-methods';

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

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { url: { type: 'string' }, 'secret-file': { type: 'string' } } });
  if (!values.url || !values['secret-file']) throw new Error('usage: post-receive.js --url URL --secret-file FILE');
  const secret = fs.readFileSync(values['secret-file'], 'utf8').trim();
  const input = fs.readFileSync(0, 'utf8');
  for (const line of input.split('\n').filter(Boolean)) {
    const [oldSha, newSha, ref] = line.split(' ');
    const body = JSON.stringify(pushPayload(process.cwd(), oldSha, newSha, ref, os.userInfo().username));
    const response = await fetch(values.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-github-event': 'push',
        'x-github-delivery': randomUUID(),
        'x-hub-signature-256': await sign(secret, body),
      },
      body,
      signal: AbortSignal.timeout(10_000),
    });
    process.stderr.write(`lxcts: ${ref} ${newSha.slice(0, 12)}: ${response.status} ${await response.text()}\n`);
  }
}

if (require.main === module) {
  main().catch((err: Error) => {
    // A failed notification must not fail the push itself.
    process.stderr.write(`lxcts: could not notify the CI: ${err.message}\n`);
  });
}
