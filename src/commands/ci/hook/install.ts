import * as fs from 'node:fs';
import * as path from 'node:path';

import { Args, Errors, Flags } from '@oclif/core';

import { localRepository } from '../../../ci/names';
import { CiCommand } from '../../../cli/ci-command';

export default class CiHookInstall extends CiCommand<typeof CiHookInstall> {
  static override summary = 'make a bare git repository send signed push events to the webhook receiver';
  static override examples = ['<%= config.bin %> ci hook install /srv/git/hello.git --url http://ci.example:8080/hooks/github --secret-file /etc/lxcts/secret'];
  static override args = { repo: Args.string({ description: 'path of the bare repository', required: true }) };
  static override flags = {
    url: Flags.string({ description: 'the receiver\'s URL, ending in /hooks/github', required: true }),
    'secret-file': Flags.string({ description: 'file holding the shared secret', required: true }),
  };

  async run(): Promise<{ hook: string; repo: string; allowLocal: string }> {
    const repo = path.resolve(this.args.repo);
    if (!fs.existsSync(path.join(repo, 'HEAD')) || !fs.existsSync(path.join(repo, 'hooks'))) {
      throw new Errors.CLIError(`${repo} is not a bare git repository`, { exit: 1, code: 'NOT_A_REPOSITORY' });
    }
    const secretFile = path.resolve(this.flags['secret-file']);
    if (!fs.existsSync(secretFile) || fs.readFileSync(secretFile, 'utf8').trim() === '') {
      throw new Errors.CLIError(`the secret file ${secretFile} is missing or empty`, { exit: 1, code: 'NO_SECRET' });
    }
    const hook = path.join(repo, 'hooks', 'post-receive');
    const script = path.resolve(__dirname, '..', '..', '..', 'ci', 'post-receive.js');
    const quote = (s: string) => `'${s.replace(/'/g, "'\\''")}'`;
    fs.writeFileSync(
      hook,
      `#!/bin/sh\n# Installed by lxcts ci hook install: tells the CI about every push.\nexec ${quote(process.execPath)} ${quote(script)} --url ${quote(this.flags.url)} --secret-file ${quote(secretFile)}\n`,
      { mode: 0o755 },
    );
    this.log(`installed ${hook}`);
    // The hook sends the repository's real path as its clone URL: workers refuse local
    // paths unless told where they may be.
    const real = fs.realpathSync(repo);
    this.log(`pushes are built as ${localRepository(real)}; start workers with --allow-local ${path.dirname(real)} (or ${real})`);
    return { hook, repo: localRepository(real), allowLocal: path.dirname(real) };
  }
}
