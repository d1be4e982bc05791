import { Flags } from '@oclif/core';

import { LxcCommand } from '../cli/base-command';
import { containerArg } from '../cli/shared-options';

export default class Destroy extends LxcCommand<typeof Destroy> {
  static override summary = 'remove a container and its rootfs';
  static override examples = ['<%= config.bin %> destroy web', '<%= config.bin %> destroy web --force'];
  static override args = { name: containerArg };
  static override flags = {
    force: Flags.boolean({ char: 'f', description: 'kill it first if it runs, and destroy its snapshots too' }),
  };

  async run(): Promise<{ name: string; destroyed: boolean }> {
    const container = this.container(this.args.name);
    if (this.flags.force && (await container.running())) await container.stop();
    await container.destroy({ withSnapshots: this.flags.force });
    this.log(`${container.name} destroyed`);
    return { name: container.name, destroyed: true };
  }
}
