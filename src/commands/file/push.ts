import { Args, Errors, Flags } from '@oclif/core';

import { LxcCommand } from '../../cli/base-command';
import { parseUser } from '../../cli/options';
import { containerArg } from '../../cli/shared-options';

export default class FilePush extends LxcCommand<typeof FilePush> {
  static override summary = 'copy a file, or a tar stream of a tree, into a running container';
  static override description =
    'SOURCE is a file of this host (a symbolic link is refused, never followed) or - for stdin. With --tar, SOURCE is a tar ' +
    'stream, written below DEST (made when missing) with its modes, owners (ids of the container) and links kept; an entry ' +
    'with "..", an absolute name, a hard link out of the tree or an entry below a link is refused. No tar is needed in the container.';
  static override examples = [
    '<%= config.bin %> file push web ./nginx.conf /etc/nginx/nginx.conf --mode 0644',
    '<%= config.bin %> file push web - /srv/data.bin --user 1000:1000 < data.bin',
    'tar -C site -c . | <%= config.bin %> file push web - /srv/www --tar',
  ];
  static override args = {
    name: containerArg,
    source: Args.string({ description: 'file of this host, or - for stdin', required: true }),
    dest: Args.string({ description: 'absolute path in the container: the new file, or with --tar the directory', required: true }),
  };
  static override flags = {
    tar: Flags.boolean({ description: 'SOURCE is a tar stream, extracted below DEST' }),
    mode: Flags.string({ char: 'm', description: 'permission bits of the new file, in octal (default: the source file’s, 0644 for stdin)' }),
    user: Flags.string({ char: 'u', description: 'owner UID or UID:GID inside the container (default: 0:0)' }),
    timeout: Flags.integer({ description: 'seconds before the copy is stopped (a file being written is then not left half written)', min: 1 }),
  };

  async run(): Promise<{ name: string; dest: string; entries?: number; skipped?: string[] }> {
    const { source, dest } = this.args;
    const container = this.container(this.args.name);
    const input = source === '-' ? process.stdin : undefined;
    if (this.flags.tar) {
      if (!input) this.error('--tar reads the tar stream from stdin: give - as SOURCE', { exit: 2 });
      const result = await container.pushTar(input, dest, { timeout: this.flags.timeout });
      for (const s of result.skipped) this.warn(`skipped ${s.name} (${s.type})`);
      return { name: container.name, dest, entries: result.entries, skipped: result.skipped.map((s) => s.name) };
    }
    const mode = this.flags.mode === undefined ? undefined : parseMode(this.flags.mode);
    const { uid, gid } = parseUser(this.flags.user);
    await container.pushFile(input ?? source, dest, { mode, uid, gid: gid ?? uid, timeout: this.flags.timeout });
    return { name: container.name, dest };
  }
}

function parseMode(text: string): number {
  if (!/^0?[0-7]{1,4}$/.test(text)) throw new Errors.CLIError(`--mode expects octal permission bits such as 0644, got "${text}"`, { exit: 2 });
  return parseInt(text, 8);
}
