import { Flags, ux } from '@oclif/core';

import { ContainerWordsCommand } from '../cli/base-command';

export default class Create extends ContainerWordsCommand<typeof Create> {
  static override summary = 'create a container from a template';
  static override description = 'Arguments after -- go to the template, e.g. the distribution for the download template.';
  static override examples = [
    '<%= config.bin %> create web --template busybox',
    '<%= config.bin %> create db --template download -- --dist debian --release bookworm --arch amd64',
  ];
  static override usage = '<%= command.id %> NAME [-t TEMPLATE] [-- TEMPLATE_ARG...]';
  static override flags = {
    template: Flags.string({ char: 't', description: 'template name or path', default: 'busybox' }),
    backend: Flags.string({ char: 'B', description: 'storage backend of the rootfs', options: ['dir', 'overlay', 'btrfs', 'zfs', 'lvm', 'loop', 'best'] }),
  };

  async run(): Promise<{ name: string; template: string; state: string }> {
    const { name } = this.args;
    const { template, backend } = this.flags;
    const templateArgs = this.wordsAfterDashes();
    const container = this.container(name);
    if (!this.jsonEnabled()) ux.action.start(`Creating ${name} from template ${template}`);
    await container.create({ template, args: templateArgs, backend: backend as never });
    if (!this.jsonEnabled()) ux.action.stop('done');
    return { name, template, state: await container.state() };
  }
}
