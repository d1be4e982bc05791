import * as fs from 'node:fs';
import * as path from 'node:path';

import { Errors, Flags } from '@oclif/core';

import { writeConfigValue } from '../../../ci/git';
import { localRepository } from '../../../ci/names';
import { UNSENT_FILE } from '../../../ci/post-receive';
import { bareRepository, bareRepositoryArg } from '../../../cli/bare-repository';
import { CiCommand } from '../../../cli/ci-command';
import { readSecretFile } from '../../../cli/secret-file';

/** The first executable `lxcts` on PATH, as an absolute path (not resolved through symlinks). */
function lxctsOnPath(): string | null {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (!path.isAbsolute(dir)) continue; // a relative PATH entry means nothing to git's hook
    const candidate = path.join(dir, 'lxcts');
    if (isExecutableFile(candidate)) return candidate;
  }
  return null;
}

const quote = (s: string) => `'${s.replace(/'/g, "'\\''")}'`;

export default class CiHookInstall extends CiCommand<typeof CiHookInstall> {
  static override summary = 'make a bare git repository send signed push events to the webhook receiver';
  static override description =
    'Writes hooks/post-receive, which runs `<lxcts> ci hook notify`, with <lxcts> the stable lxcts command found on PATH ' +
    "(an installed package's bin, e.g. /usr/local/bin/lxcts; upgrades of the package keep working) or given with --lxcts. " +
    "The receiver's URL and the secret file go to the repository's git config (lxcts.url, lxcts.secretFile). " +
    'Every push is spooled in <repo>/lxcts/spool/ until the receiver has it: see `lxcts ci hook flush`.';
  static override examples = ['<%= config.bin %> ci hook install /srv/git/hello.git --url http://ci.example:8080/hooks/github --secret-file /etc/lxcts/secret'];
  static override args = { repo: bareRepositoryArg };
  static override flags = {
    url: Flags.string({ description: "the receiver's URL, ending in /hooks/github", required: true }),
    'secret-file': Flags.string({ description: 'file holding the shared secret', required: true }),
    lxcts: Flags.string({ description: 'absolute path of the lxcts command the hook runs (default: lxcts on PATH)' }),
  };

  async run(): Promise<{ hook: string; lxcts: string; url: string; secretFile: string; repo: string; allowLocal: string }> {
    const repo = bareRepository(this.args.repo, { withHooks: true });
    const secretFile = path.resolve(this.flags['secret-file']);
    readSecretFile(secretFile);
    let url: URL;
    try {
      url = new URL(this.flags.url);
      if (!['http:', 'https:'].includes(url.protocol)) throw new Error('not http');
    } catch {
      throw new Errors.CLIError(`${this.flags.url} is not an http(s) URL`, { exit: 1, code: 'BAD_URL' });
    }
    const lxcts = this.flags.lxcts ?? lxctsOnPath();
    if (!lxcts) {
      throw new Errors.CLIError(
        'no lxcts command on PATH for the hook to run: install the package (npm install -g lxcts) or link its bin ' +
          '(ln -s /path/to/lxcts/bin/run.js /usr/local/bin/lxcts), or give --lxcts /absolute/path/to/lxcts',
        { exit: 1, code: 'NO_STABLE_LXCTS' },
      );
    }
    if (!path.isAbsolute(lxcts) || !isExecutableFile(lxcts)) {
      throw new Errors.CLIError(`--lxcts ${lxcts} is not an absolute path of an executable file`, { exit: 1, code: 'NO_STABLE_LXCTS' });
    }
    const config = path.join(repo, 'config');
    await writeConfigValue(config, 'lxcts.url', url.href);
    await writeConfigValue(config, 'lxcts.secretFile', secretFile);
    const hook = path.join(repo, 'hooks', 'post-receive');
    // lxcts's bin starts with `#!/usr/bin/env node`: git's hook may run with a short PATH
    // (sshd's), so node's directory at install time is added at the end, as a fallback.
    const script = [
      '#!/bin/sh',
      '# Installed by lxcts ci hook install: tells the CI about every push. Events the receiver',
      '# has not taken yet wait in lxcts/spool/ of this repository (lxcts ci hook flush).',
      `PATH="\${PATH:-/usr/bin:/bin}:"${quote(path.dirname(process.execPath))}`,
      'export PATH',
      `LXCTS=${quote(lxcts)}`,
      'if [ -x "$LXCTS" ]; then exec "$LXCTS" ci hook notify; fi',
      '# lxcts is gone: keep the ref updates; the next notify or flush sends them.',
      `mkdir -p ${quote(path.dirname(UNSENT_FILE))} && cat >> ${quote(UNSENT_FILE)}`,
      `echo "lxcts: $LXCTS not found: push kept in $PWD/${UNSENT_FILE}; reinstall lxcts, then run: lxcts ci hook flush $PWD" >&2`,
      '',
    ].join('\n');
    fs.writeFileSync(hook, script, { mode: 0o755 });
    fs.chmodSync(hook, 0o755);
    this.log(`installed ${hook}: it runs ${lxcts} ci hook notify on every push`);
    this.log(`set lxcts.url=${url.href} and lxcts.secretFile=${secretFile} in ${config}`);
    this.log(`pushes the receiver cannot take are kept in ${path.join(repo, 'lxcts', 'spool')} and sent later (lxcts ci hook flush ${repo})`);
    // The hook sends the repository's real path as its clone URL: workers refuse local
    // paths unless told where they may be.
    const real = fs.realpathSync(repo);
    this.log(`pushes are built as ${localRepository(real)}; start workers with --allow-local ${path.dirname(real)} (or ${real})`);
    return { hook, lxcts, url: url.href, secretFile, repo: localRepository(real), allowLocal: path.dirname(real) };
  }
}

function isExecutableFile(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}
