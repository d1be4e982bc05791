import { Args } from '@oclif/core';

import { SecretStore } from '../../../ci/secret-store';
import { CiCommand } from '../../../cli/ci-command';

export default class CiSecretRm extends CiCommand<typeof CiSecretRm> {
  static override summary = "remove a repository's secret";
  static override description = 'Jobs that name it fail from then on, saying which secret is missing.';
  static override examples = ['<%= config.bin %> ci secret rm octo/hello DEPLOY_TOKEN'];
  static override args = {
    repo: Args.string({ description: 'the repository, owner/name', required: true }),
    name: Args.string({ description: 'the secret', required: true }),
  };

  async run(): Promise<{ repo: string; name: string; removed: boolean }> {
    const { repo, name } = this.args;
    const store = new SecretStore(this.dataDir().root);
    let removed: boolean;
    try {
      removed = store.remove(repo, name);
    } finally {
      store.close();
    }
    if (!removed) this.error(`${repo} has no secret ${name}`, { exit: 1 });
    this.log(`removed secret ${name} of ${repo}`);
    return { repo, name, removed };
  }
}
