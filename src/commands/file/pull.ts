import { Args, Flags } from '@oclif/core';
import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';

import { LxcCommand } from '../../cli/base-command';
import { containerArg } from '../../cli/shared-options';

export default class FilePull extends LxcCommand<typeof FilePull> {
  static override summary = 'copy a file, or a tree as a tar stream, out of a running container';
  static override description =
    'Writes to DEST (a file of this host), or to stdout when DEST is - or absent. With --tar, the tree at SOURCE comes as a ' +
    'tar stream: links as links, modes and owners (ids of the container) kept; unpack it with tar. No tar is needed in the container.';
  static override examples = [
    '<%= config.bin %> file pull web /etc/os-release ./os-release',
    '<%= config.bin %> file pull web /var/log/app.log | tail',
    '<%= config.bin %> file pull web /srv/www --tar | tar -x -C backup',
  ];
  static override args = {
    name: containerArg,
    source: Args.string({ description: 'absolute path in the container', required: true }),
    dest: Args.string({ description: 'file of this host, or - for stdout (the default)' }),
  };
  static override flags = {
    tar: Flags.boolean({ description: 'the tree at SOURCE as a tar stream' }),
    timeout: Flags.integer({ description: 'seconds before the copy is stopped', min: 1 }),
  };

  async run(): Promise<{ name: string; source: string; dest: string }> {
    const { source } = this.args;
    const dest = this.args.dest ?? '-';
    const container = this.container(this.args.name);
    const limits = { timeout: this.flags.timeout };
    const stream = this.flags.tar ? await container.pullTar(source, limits) : await container.pullFile(source, limits);
    await pipeline(stream, dest === '-' ? process.stdout : createWriteStream(dest));
    return { name: container.name, source, dest };
  }
}
