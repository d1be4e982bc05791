import { Args } from '@oclif/core';

import { LxcCommand } from '../../cli/base-command';
import { containerArg } from '../../cli/shared-options';

export default class ConfigGet extends LxcCommand<typeof ConfigGet> {
  static override summary = 'print the value of a config key';
  static override examples = ['<%= config.bin %> config get web lxc.uts.name', '<%= config.bin %> config get web lxc.net.0.link'];
  static override args = {
    name: containerArg,
    key: Args.string({ description: 'config key, e.g. lxc.net.0.type', required: true }),
  };

  async run(): Promise<{ name: string; key: string; value: string }> {
    const container = await this.existingContainer(this.args.name, 'getConfigItem');
    const value = await container.getConfigItem(this.args.key);
    this.log(value);
    return { name: container.name, key: this.args.key, value };
  }
}
