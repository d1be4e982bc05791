import * as fs from 'node:fs';
import * as path from 'node:path';

import { notify } from '../../../ci/post-receive';
import { CiCommand } from '../../../cli/ci-command';

export default class CiHookNotify extends CiCommand<typeof CiHookNotify> {
  static override summary = 'send the pushed ref updates (stdin, as git gives them) to the CI: what the installed post-receive hook runs';
  static override description =
    'Run by the post-receive hook inside the bare repository (GIT_DIR). Each ref update is spooled in <repo>/lxcts/spool/ ' +
    "and sent to the receiver (lxcts.url and lxcts.secretFile in the repository's config); what the receiver cannot take " +
    'now stays spooled and a detached `lxcts ci hook flush REPO --retry` keeps trying. Never fails the push.';
  static override examples = ['echo "$OLD $NEW refs/heads/main" | GIT_DIR=/srv/git/hello.git <%= config.bin %> ci hook notify'];

  async run(): Promise<void> {
    const repo = path.resolve(process.env.GIT_DIR ?? '.');
    try {
      // process.argv[1]: the lxcts the hook ran, so the retrier is the same stable one.
      const lines = await notify(repo, fs.readFileSync(0, 'utf8'), process.argv[1] ?? null);
      for (const line of lines) this.logToStderr(line);
    } catch (err) {
      // git has already updated the refs: a hook failure would only confuse the pusher.
      this.logToStderr(`lxcts: could not spool or send the push event: ${(err as Error).message}`);
    }
  }
}
