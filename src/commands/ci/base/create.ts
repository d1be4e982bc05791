import { Args, Flags } from '@oclif/core';

import { createTemplateBase, ensureHostBase, HOST_BASE } from '../../../ci/bases';
import { CiCommand } from '../../../cli/ci-command';

export default class CiBaseCreate extends CiCommand<typeof CiBaseCreate> {
  static override summary = 'make a base container that builds are cloned from';
  static override description =
    '"host" needs no download: the host\'s /usr mounted read-only. Any other name is a full, isolated container ' +
    "made from an LXC template (debian runs debootstrap against the distribution's mirror).";
  static override examples = [
    '<%= config.bin %> ci base create host',
    '<%= config.bin %> ci base create bookworm --template debian --packages build-essential,git',
  ];
  static override args = { name: Args.string({ description: 'base name (use it as base: in .lxcts.yml)', required: true }) };
  static override flags = {
    template: Flags.string({ char: 't', description: 'LXC template for a full base', default: 'debian' }),
    packages: Flags.string({ char: 'p', description: 'extra packages, comma-separated (debian template)' }),
  };

  async run(): Promise<{ name: string }> {
    const { bases } = this.dataDir();
    if (this.args.name === HOST_BASE) await ensureHostBase(bases);
    else await createTemplateBase(bases, this.args.name, this.flags.template, this.flags.packages?.split(',').filter(Boolean) ?? []);
    this.log(`base ${this.args.name} ready`);
    return { name: this.args.name };
  }
}
