import { Args, Flags } from '@oclif/core';

import { JobResult } from '../../ci/builder';
import { CiCommand } from '../../cli/ci-command';
import { ceilingsFrom, limitFlags } from '../../cli/limit-flags';

export default class CiBuild extends CiCommand<typeof CiBuild> {
  static override summary = 'build a commit: every job of its .lxcts.yml in a fresh container';
  static override description =
    'The log streams live. Binaries land in <data-dir>/binaries/<owner>/<repo>/<sha>/ and docs in ' +
    '<data-dir>/docs/<owner>/<repo>/<branch>/. Exits 0 only if every job succeeded.';
  static override examples = [
    '<%= config.bin %> ci build ./hello',
    '<%= config.bin %> ci build https://git.example.com/octo/hello.git --ref main --job binaries',
  ];
  static override args = { source: Args.string({ description: 'local path or git URL of the repository', required: true }) };
  static override flags = {
    ref: Flags.string({ char: 'r', description: 'branch, tag or commit (default: the repository\'s HEAD)' }),
    job: Flags.string({ char: 'j', description: 'run only this job' }),
    force: Flags.boolean({ char: 'f', description: 'build again even if this commit\'s job already succeeded' }),
    bridge: Flags.string({ description: 'bridge for jobs with network: true', default: 'lxcbr0' }),
    ...limitFlags,
  };

  async run(): Promise<JobResult[]> {
    const builder = this.builder({ bridge: this.flags.bridge, ceilings: ceilingsFrom(this.flags) });
    const swept = await builder.sweep();
    for (const build of swept) this.logToStderr(`swept build ${build.id} (${build.repo} ${build.job}): builder died`);
    const results = await builder.build({
      source: this.args.source,
      ref: this.flags.ref,
      job: this.flags.job,
      force: this.flags.force,
      output: this.jsonEnabled() ? undefined : process.stdout,
    });
    for (const r of results) this.log(`${r.job}: ${r.status}${r.message ? ` (${r.message})` : ''}${r.built ? '' : ' [not rebuilt]'}`);
    if (results.some((r) => r.status !== 'success')) process.exitCode = 1;
    return results;
  }
}
