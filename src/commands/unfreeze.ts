import { LxcCommand } from '../cli/base-command';
import { containerArg } from '../cli/shared-options';

export default class Unfreeze extends LxcCommand<typeof Unfreeze> {
  static override summary = 'thaw a frozen container';
  static override examples = ['<%= config.bin %> unfreeze web'];
  static override args = { name: containerArg };

  async run(): Promise<{ name: string; state: string }> {
    const container = this.container(this.args.name);
    await container.unfreeze();
    const state = await container.state();
    this.log(`${container.name} ${state}`);
    return { name: container.name, state };
  }
}
