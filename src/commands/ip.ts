import { Flags } from '@oclif/core';

import { LxcCommand } from '../cli/base-command';
import { containerArg } from '../cli/shared-options';

export default class Ip extends LxcCommand<typeof Ip> {
  static override summary = "print a running container's IP addresses, one per line";
  static override examples = ['<%= config.bin %> ip web', '<%= config.bin %> ip web --wait 30 --family inet'];
  static override args = { name: containerArg };
  static override flags = {
    wait: Flags.integer({ char: 'w', description: 'seconds to wait for an address to appear', min: 0 }),
    family: Flags.string({ char: 'f', description: 'only this address family', options: ['inet', 'inet6'] }),
    interface: Flags.string({ char: 'i', description: 'only this interface (as named inside the container)' }),
  };

  async run(): Promise<{ name: string; addresses: string[] }> {
    const container = this.container(this.args.name);
    const addresses = await container.ipAddresses({
      timeout: this.flags.wait,
      family: this.flags.family as 'inet' | 'inet6' | undefined,
      interface: this.flags.interface,
    });
    for (const address of addresses) this.log(address);
    return { name: container.name, addresses };
  }
}
