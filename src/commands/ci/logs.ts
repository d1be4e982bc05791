import * as fs from 'node:fs';

import { Args, Errors } from '@oclif/core';

import { CiCommand } from '../../cli/ci-command';

export default class CiLogs extends CiCommand<typeof CiLogs> {
  static override summary = 'print the log of a build';
  static override examples = ['<%= config.bin %> ci logs 42'];
  static override args = { id: Args.integer({ description: 'build id (see lxcts ci builds)', required: true }) };

  async run(): Promise<{ id: number; log: string }> {
    const build = this.store().get(this.args.id);
    if (!build) throw new Errors.CLIError(`there is no build ${this.args.id}`, { exit: 1, code: 'BUILD_NOT_FOUND' });
    if (!build.logPath || !fs.existsSync(build.logPath)) {
      throw new Errors.CLIError(`build ${build.id} has no log (status ${build.status})`, { exit: 1, code: 'LOG_NOT_FOUND' });
    }
    const log = fs.readFileSync(build.logPath, 'utf8');
    if (!this.jsonEnabled()) process.stdout.write(log);
    return { id: build.id, log };
  }
}
