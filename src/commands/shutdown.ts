import { Flags } from '@oclif/core';

import { LxcCommand } from '../cli/base-command';
import { containerArg } from '../cli/shared-options';

export default class Shutdown extends LxcCommand<typeof Shutdown> {
  static override summary = 'halt a container cleanly through its init';
  static override examples = ['<%= config.bin %> shutdown web --timeout 30'];
  static override args = { name: containerArg };
  static override flags = {
    timeout: Flags.integer({ char: 't', description: 'seconds to wait before failing', default: 60, min: 0 }),
  };

  async run(): Promise<{ name: string; state: string }> {
    const container = this.container(this.args.name);
    await container.shutdown({ timeout: this.flags.timeout });
    this.log(`${container.name} halted`);
    return { name: container.name, state: await container.state() };
  }
}
