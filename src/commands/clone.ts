import { Args, Flags } from '@oclif/core';

import { LxcCommand } from '../cli/base-command';

export default class Clone extends LxcCommand<typeof Clone> {
  static override summary = 'copy a container, or make a copy-on-write snapshot clone of it';
  static override examples = ['<%= config.bin %> clone web web2', '<%= config.bin %> clone base build-1 --snapshot --backend overlay'];
  static override args = {
    source: Args.string({ description: 'container to copy', required: true }),
    target: Args.string({ description: 'name of the new container', required: true }),
  };
  static override flags = {
    snapshot: Flags.boolean({ char: 's', description: 'copy-on-write snapshot instead of a full copy' }),
    backend: Flags.string({ char: 'B', description: 'backend of the new rootfs', options: ['overlay', 'dir'] }),
  };

  async run(): Promise<{ source: string; target: string; state: string }> {
    const source = this.container(this.args.source);
    const clone = await source.clone(this.args.target, {
      snapshot: this.flags.snapshot,
      backend: this.flags.backend as 'overlay' | 'dir' | undefined,
    });
    try {
      this.log(`${clone.name} cloned from ${source.name}`);
      return { source: source.name, target: clone.name, state: await clone.state() };
    } finally {
      await clone.release();
    }
  }
}
