import { Args } from '@oclif/core';

import { SecretEntry, SecretStore } from '../../../ci/secret-store';
import { CiCommand } from '../../../cli/ci-command';
import { renderTable } from '../../../cli/format';

export default class CiSecretList extends CiCommand<typeof CiSecretList> {
  static override summary = "list a repository's secrets: names and when they were set, never values";
  static override examples = ['<%= config.bin %> ci secret list octo/hello', '<%= config.bin %> ci secret list octo/hello --json'];
  static override args = {
    repo: Args.string({ description: 'the repository, owner/name', required: true }),
  };

  async run(): Promise<SecretEntry[]> {
    const store = new SecretStore(this.dataDir().root);
    try {
      const secrets = store.list(this.args.repo);
      this.log(
        renderTable(
          ['NAME', 'CREATED', 'UPDATED'],
          secrets.map((s) => [s.name, s.createdAt, s.updatedAt]),
        ),
      );
      return secrets;
    } finally {
      store.close();
    }
  }
}
