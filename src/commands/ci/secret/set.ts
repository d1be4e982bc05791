import { Args } from '@oclif/core';

import { MAX_SECRET_VALUE } from '../../../ci/secrets';
import { SecretStore } from '../../../ci/secret-store';
import { CiCommand } from '../../../cli/ci-command';

export default class CiSecretSet extends CiCommand<typeof CiSecretSet> {
  static override summary = "set a repository's secret, its value read from stdin";
  static override description =
    'The value comes from stdin, never from the command line (where ps and shell history would show it), exactly as given: ' +
    'use printf %s, not echo, unless the newline belongs to it. At most 64 KiB of UTF-8 text without NUL. It is stored ' +
    'encrypted (AES-256-GCM) in <data-dir>/secrets.sqlite with the key <data-dir>/secrets.key (0600, made by the first set). ' +
    'A job gets it as an environment variable when its .lxcts.yml names it (secrets: [NAME]), for pushes and pull requests ' +
    'from the repository itself only, and its value is masked in logs and events.';
  static override examples = [
    'printf %s "$TOKEN" | <%= config.bin %> ci secret set octo/hello DEPLOY_TOKEN',
    '<%= config.bin %> ci secret set octo/hello DEPLOY_KEY < ~/.ssh/deploy_key',
  ];
  static override args = {
    repo: Args.string({ description: 'the repository, owner/name', required: true }),
    name: Args.string({ description: 'the variable the steps see: A-Z, 0-9, _', required: true }),
  };

  async run(): Promise<{ repo: string; name: string; bytes: number }> {
    const { repo, name } = this.args;
    if (process.stdin.isTTY)
      this.error(
        `stdin is a terminal, where the value would show as it is typed; pipe it in: printf %s VALUE | ${this.config.bin} ci secret set ${repo} ${name}`,
        {
          exit: 2,
        },
      );
    const value = await readBounded(process.stdin, MAX_SECRET_VALUE + 1);
    const store = new SecretStore(this.dataDir().root);
    try {
      store.set(repo, name, value);
    } finally {
      store.close();
    }
    this.log(`set secret ${name} of ${repo} (${value.length} bytes)`);
    return { repo, name, bytes: value.length };
  }
}

/** At most `limit` bytes of `stream`: enough to tell a value too long without reading all of it. */
async function readBounded(stream: NodeJS.ReadableStream, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of stream) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    chunks.push(bytes);
    length += bytes.length;
    if (length >= limit) break;
  }
  return Buffer.concat(chunks).subarray(0, limit);
}
