import { Args } from '@oclif/core';

import { LxcCommand } from '../cli/base-command';

export default class Rename extends LxcCommand<typeof Rename> {
  static override summary = 'rename a stopped container (one without snapshots)';
  static override examples = ['<%= config.bin %> rename web web-old'];
  static override args = {
    name: Args.string({ description: 'container to rename', required: true }),
    newName: Args.string({ description: 'its new name', required: true }),
  };

  async run(): Promise<{ name: string; newName: string }> {
    const renamed = await this.container(this.args.name).rename(this.args.newName);
    try {
      this.log(`${this.args.name} renamed to ${renamed.name}`);
      return { name: this.args.name, newName: renamed.name };
    } finally {
      await renamed.release();
    }
  }
}
