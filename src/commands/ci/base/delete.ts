import { Args } from '@oclif/core';

import { deleteBase } from '../../../ci/bases';
import { CiCommand } from '../../../cli/ci-command';

export default class CiBaseDelete extends CiCommand<typeof CiBaseDelete> {
  static override summary = 'delete a base container';
  static override examples = ['<%= config.bin %> ci base delete bookworm'];
  static override args = { name: Args.string({ description: 'base name', required: true }) };

  async run(): Promise<{ name: string; deleted: boolean }> {
    await deleteBase(this.dataDir().bases, this.args.name);
    this.log(`base ${this.args.name} deleted`);
    return { name: this.args.name, deleted: true };
  }
}
