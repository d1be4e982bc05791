import { Args } from '@oclif/core';

import { LxcCommand } from '../cli/base-command';

export default class Unfreeze extends LxcCommand<typeof Unfreeze> {
  static override summary = 'thaw a frozen container';
  static override examples = ['<%= config.bin %> unfreeze web'];
  static override args = { name: Args.string({ description: 'container name', required: true }) };

  async run(): Promise<{ name: string; state: string }> {
    const container = this.container(this.args.name);
    await container.unfreeze();
    const state = await container.state();
    this.log(`${container.name} ${state}`);
    return { name: container.name, state };
  }
}
