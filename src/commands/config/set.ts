import { Args } from '@oclif/core';

import { LxcCommand } from '../../cli/base-command';
import { containerArg } from '../../cli/shared-options';

export default class ConfigSet extends LxcCommand<typeof ConfigSet> {
  static override summary = "set a config key and save the container's config file";
  static override description = 'An empty value clears the key. The change applies the next time the container starts.';
  static override examples = ['<%= config.bin %> config set web lxc.start.auto 1', '<%= config.bin %> config set web lxc.cgroup.memory.limit_in_bytes 256M'];
  static override args = {
    name: containerArg,
    key: Args.string({ description: 'config key', required: true }),
    value: Args.string({ description: 'new value ("" clears the key)', required: true }),
  };

  async run(): Promise<{ name: string; key: string; value: string }> {
    const { name, key, value } = this.args;
    const container = await this.existingContainer(name, 'setConfigItem');
    if (value === '') await container.clearConfigItem(key);
    else await container.setConfigItem(key, value);
    await container.saveConfig();
    const saved = await container.getConfigItem(key);
    this.log(`${key} = ${saved}`);
    return { name, key, value: saved };
  }
}
