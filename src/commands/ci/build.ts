import { Args, Errors, Flags } from '@oclif/core';

import { JobResult, SkippedJob } from '../../ci/builder';
import { repositoryPath } from '../../ci/names';
import { CiCommand } from '../../cli/ci-command';
import { ceilingsFrom, limitFlags } from '../../cli/limit-flags';

export default class CiBuild extends CiCommand<typeof CiBuild> {
  static override summary = 'build a commit: every job of its .lxcts.yml in a fresh container';
  static override description =
    'The log streams live. Binaries land in <data-dir>/binaries/<owner>/<repo>/<sha>/ and docs in ' +
    '<data-dir>/docs/<owner>/<repo>/<branch>/; a local path is the repository local/<directory name>-<hash of its real path>. ' +
    'Any local path given here is built (it is your own command line); URLs must be https, ssh or git on a public address ' +
    "unless --allow-private-hosts. Prints each job's result, and for each job that did not run, why (its branches: filter, " +
    'or a tag or commit that is no branch). Exit status: 0 when every job that ran succeeded, also when none ran for this ref; ' +
    '1 when a job did not succeed or the build could not be made; 2 for a usage error, e.g. --job naming no job of the build file.';
  static override examples = [
    '<%= config.bin %> ci build ./hello',
    '<%= config.bin %> ci build https://git.example.com/octo/hello.git --ref main --job binaries',
  ];
  static override args = { source: Args.string({ description: 'local path or git URL of the repository', required: true }) };
  static override flags = {
    ref: Flags.string({ char: 'r', description: "branch, tag or commit (default: the repository's HEAD)" }),
    job: Flags.string({ char: 'j', description: 'run only this job' }),
    force: Flags.boolean({ char: 'f', description: "build again even if this commit's job already succeeded" }),
    bridge: Flags.string({ description: 'bridge for jobs with network: true', default: 'lxcbr0' }),
    'allow-private-hosts': Flags.boolean({
      description: 'fetch a URL whose host is or resolves to a loopback, private or link-local address',
      default: false,
    }),
    secrets: Flags.boolean({
      description: "give the jobs the repository's secrets their secrets: names (set with ci secret set for the repository named at the end)",
      default: false,
    }),
    ...limitFlags,
  };

  async run(): Promise<Array<JobResult | (SkippedJob & { status: 'skipped' })>> {
    // The operator's own command line: any local path may be built (workers allow only --allow-local).
    const builder = this.builder({
      bridge: this.flags.bridge,
      ceilings: ceilingsFrom(this.flags),
      sources: { allowLocal: 'any', allowPrivateHosts: this.flags['allow-private-hosts'] },
    });
    const swept = await builder.sweep();
    for (const build of swept) this.logToStderr(`swept build ${build.id} (${build.repo} ${build.job}): builder died`);
    const skipped: SkippedJob[] = [];
    const results = await builder
      .build({
        source: this.args.source,
        ref: this.flags.ref,
        job: this.flags.job,
        force: this.flags.force,
        secrets: this.flags.secrets,
        output: this.jsonEnabled() ? undefined : process.stdout,
        onSkipped: (s) => skipped.push(s),
      })
      .catch((err: Error) => {
        // The builder's words for a --job the build file does not have (they list the jobs it has).
        if (this.flags.job !== undefined && err.message.startsWith(`no job "${this.flags.job}"`))
          throw new Errors.CLIError(err.message, { exit: 2, code: 'NO_SUCH_JOB' });
        throw err;
      });
    // Which jobs ran (or were already built), and why the others did not.
    for (const r of results) this.log(`${r.job}: ${r.status}${r.message ? ` (${r.message})` : ''}${r.built ? '' : ' [not rebuilt]'}`);
    for (const s of skipped) this.log(`${s.job}: not run (${s.reason})`);
    if (results.length === 0) this.log(`no job ran for ${this.flags.ref ?? "the repository's HEAD"}; nothing failed (exit status 0)`);
    const repo = results[0] ? this.store().get(results[0].buildId)?.repo : undefined;
    if (repo) {
      // Local repositories are named by their real path (local/<dir>-<hash>): say where things went.
      const data = this.dataDir();
      this.log(`repository ${repo}: binaries under ${repositoryPath(data.binaries, repo)}, docs under ${repositoryPath(data.docs, repo)}`);
    }
    if (results.some((r) => r.status !== 'success')) process.exitCode = 1;
    return [...results, ...skipped.map((s) => ({ ...s, status: 'skipped' as const }))];
  }
}
