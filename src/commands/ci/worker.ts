import { Flags } from '@oclif/core';

import type { LocalPublication } from '../../ci/builder';
import { Logger, loggerFor } from '../../ci/logger';
import { findNsqdHttp } from '../../ci/nsq-api';
import { PUSH_TOPIC } from '../../ci/push-event';
import { retentionAfterPublish } from '../../ci/retention';
import { Worker } from '../../ci/worker';
import { CiCommand } from '../../cli/ci-command';
import { ceilingsFrom, limitFlags } from '../../cli/limit-flags';
import { splitAddress } from '../../cli/options';
import { logLevelFlag, messageKeyFileFlag, messageSealFrom, retentionFlags } from '../../cli/service-flags';
import { deprecatedAlias } from '../../cli/shared-options';
import { untilStopSignal } from '../../cli/signals';
import { githubFlags, githubFromFlags } from '../../cli/github-flags';
import { PATCH_PARSER_CHANNEL, PatchParser } from '../../bot/patch-parser';
import { uploadPublished } from '../../server/upload-client';
import { readWorkerToken } from '../../server/worker-token';

/** Uploads what a job published here to the CI server at `server`; the lines for the build's log. */
function uploadTo(server: string, token: string): (publication: LocalPublication) => Promise<string[]> {
  return async ({ binariesDir, docsDir, signal, ...build }) => {
    const result = await uploadPublished({ server, token, binariesDir, docsDir, signal, ...build });
    const where = [result.binaries, result.docs].filter((url) => url !== null).map((url) => new URL(url, server).href);
    return [...result.notes, `uploaded to ${where.join(' and ')}`];
  };
}

/**
 * After a job published here: the upload to the CI server (if any), then the repository's
 * retention sweep (throttled); their lines go to the build's log. A failed sweep does not
 * fail the build.
 */
function afterPublishing(
  upload: ((publication: LocalPublication) => Promise<string[]>) | undefined,
  sweep: (repo: string) => Promise<string[]>,
  log: Logger,
): (publication: LocalPublication) => Promise<string[]> {
  return async (publication) => {
    const lines: string[] = [];
    if (upload) {
      // The builder's own wording for a failed afterPublish: the sweep still runs.
      lines.push(...(await upload(publication).catch((err: Error) => [`after publishing: ${err.message} (the build stands)`])));
    }
    const swept = await sweep(publication.repo).catch((err: Error) => [`retention: ${err.message}`]);
    for (const line of swept) log.info({ repo: publication.repo, build: publication.buildId }, line);
    return [...lines, ...swept];
  };
}

/** An nsqd HTTP address to publish to: given, or the first nsqd that nsqlookupd knows. */
async function publishAddress(explicit: string | undefined, nsqd: string[], lookupd: string[]): Promise<string> {
  if (explicit) return explicit;
  if (nsqd[0] !== undefined) {
    const [host, port] = splitAddress(nsqd[0]);
    return `${host}:${port + 1}`; // nsqd's HTTP port is its TCP port + 1 unless configured otherwise
  }
  const found = await findNsqdHttp(lookupd);
  if (found) return found;
  throw new Error('no nsqd found to publish build events to: give --nsqd-http HOST:HTTP_PORT');
}

export default class CiWorker extends CiCommand<typeof CiWorker> {
  static override summary = 'build pushes from NSQ: one worker per channel (job kind), any number of machines';
  static override description =
    'Each channel of the topic gets every push; a worker builds the job named like its channel (or --job). ' +
    'Runs until SIGTERM or Ctrl-C: then it takes no new message, lets running builds finish within --grace, ' +
    'cancels and requeues the rest, and exits 0. ' +
    'With --channel patch-parser it builds nothing: it checks each pull request (sign-offs, labels, one comment) on GitHub.';
  static override examples = [
    '<%= config.bin %> ci worker --nsqd-tcp 127.0.0.1:4150 --nsqd-http 127.0.0.1:4151 --channel binaries',
    '<%= config.bin %> ci worker --lookupd 10.0.0.5:4161 --lookupd 10.0.0.6:4161 --channel docs --concurrency 2',
  ];
  static override flags = {
    'log-level': logLevelFlag,
    lookupd: Flags.string({ description: 'nsqlookupd HTTP address (repeatable)', multiple: true }),
    'nsqd-tcp': Flags.string({
      description: 'nsqd TCP address to consume from (repeatable), instead of --lookupd',
      multiple: true,
      ...deprecatedAlias('nsqd'),
    }),
    channel: Flags.string({ description: 'NSQ channel: one per job kind', required: true }),
    job: Flags.string({ description: 'job to build (default: the channel name)' }),
    topic: Flags.string({ description: 'topic of build requests', default: PUSH_TOPIC }),
    'events-topic': Flags.string({ description: 'topic build events are published to', default: 'lxcts.builds' }),
    'live-logs': Flags.boolean({
      description: 'publish build output to lxcts.logs for the CI server (ci server) to show live; only with a server: nsqd keeps what nobody reads',
      default: false,
    }),
    'nsqd-http': Flags.string({
      description: 'nsqd HTTP address build events and dead letters are published to (default: --nsqd-tcp port + 1, or found through --lookupd)',
      ...deprecatedAlias('publish'),
    }),
    concurrency: Flags.integer({ description: 'builds at once', default: 1, min: 1 }),
    'max-attempts': Flags.integer({ description: 'deliveries before a request goes to <topic>.dead', default: 5, min: 1 }),
    'requeue-delay': Flags.integer({ description: 'seconds before a failed attempt is retried', default: 10, min: 0 }),
    'build-timeout': Flags.integer({ description: 'longest build in seconds (checked against nsqd --max-msg-timeout)', default: 900, min: 1 }),
    supersede: Flags.boolean({ description: 'cancel older builds of a branch when a newer push arrives', default: true, allowNo: true }),
    'fork-approval': Flags.boolean({
      description: "build a fork's pull request only once a maintainer approved it on the CI server (ci approve); until then it waits there",
      default: false,
    }),
    grace: Flags.integer({ description: 'seconds running builds get to finish on SIGTERM', default: 60, min: 0 }),
    bridge: Flags.string({ description: 'bridge for jobs with network: true', default: 'lxcbr0' }),
    'allow-local': Flags.string({
      description: 'build local repositories (paths, file://) under this directory, e.g. where hooked bare repositories live (repeatable)',
      multiple: true,
    }),
    server: Flags.string({
      description: "the CI server's URL: each job's published binaries and docs are uploaded to it (a failure is noted in the build's log)",
      dependsOn: ['worker-token-file'],
    }),
    'worker-token-file': Flags.string({ description: 'file holding the token the server takes uploads with (its --worker-token-file)', dependsOn: ['server'] }),
    'allow-private-hosts': Flags.boolean({
      description: 'fetch from hosts that are or resolve to loopback, private or link-local addresses (a git server on the LAN)',
      default: false,
    }),
    'message-key-file': messageKeyFileFlag,
    ...retentionFlags,
    'gc-interval': Flags.integer({
      description: 'minutes between two retention sweeps of a repository (ci gc), run after a publish; the first publish sweeps at once',
      default: 60,
      min: 0,
    }),
    ...limitFlags,
    ...githubFlags,
    'bot-login': Flags.string({
      description: "--channel patch-parser: the bot's GitHub login; only its comments are edited (default: any comment opening with its marker)",
    }),
  };

  async run(): Promise<void> {
    const f = this.flags;
    if (!f.lookupd?.length && !f['nsqd-tcp']?.length) this.error('give --lookupd or --nsqd-tcp', { exit: 2 });
    if (f.channel === PATCH_PARSER_CHANNEL) return this.patchParser();
    if (f.server !== undefined && !/^https?:\/\/[^/]/.test(f.server)) this.error(`--server expects http(s)://HOST:PORT, got "${f.server}"`, { exit: 2 });
    const log = loggerFor('worker', f['log-level']).child({ channel: f.channel });
    const seal = messageSealFrom(f['message-key-file'], log);
    // No job may outlast the worker's longest build (unless --max-timeout says otherwise).
    const builder = this.builder({
      bridge: f.bridge,
      ceilings: { ...ceilingsFrom(f), timeout: f['max-timeout'] ?? f['build-timeout'] * 1000 },
      sources: { allowLocal: f['allow-local'] ?? [], allowPrivateHosts: f['allow-private-hosts'] },
    });
    const worker = new Worker({
      topic: f.topic,
      channel: f.channel,
      job: f.job,
      lookupd: f.lookupd,
      nsqd: f['nsqd-tcp'],
      publishTo: await publishAddress(f['nsqd-http'], f['nsqd-tcp'] ?? [], f.lookupd ?? []),
      concurrency: f.concurrency,
      maxAttempts: f['max-attempts'],
      requeueDelayMs: f['requeue-delay'] * 1000,
      buildTimeoutMs: f['build-timeout'] * 1000,
      supersede: f.supersede,
      eventsTopic: f['events-topic'],
      liveLogs: f['live-logs'],
      forkApproval: f['fork-approval'],
      afterPublish: afterPublishing(
        f.server && f['worker-token-file'] ? uploadTo(f.server, readWorkerToken(f['worker-token-file'])) : undefined,
        retentionAfterPublish({
          data: this.dataDir(),
          store: this.store(),
          policy: { keep: f['keep-versions'], days: f['expire-days'] },
          intervalMs: f['gc-interval'] * 60_000,
        }),
        log,
      ),
      builder,
      store: this.store(),
      seal,
      log,
    });
    await worker.start();
    await untilStopSignal();
    log.info({ grace: f.grace }, 'stopping');
    await worker.stop(f.grace * 1000);
    log.info('stopped');
  }

  /** The patch-parser bot (src/bot/) instead of a builder: pull requests in, GitHub writes out. */
  private async patchParser(): Promise<void> {
    const f = this.flags;
    const log = loggerFor('worker', f['log-level']).child({ channel: f.channel });
    const seal = messageSealFrom(f['message-key-file'], log);
    // Bad credentials files are a usage error (exit 2) from githubFromFlags itself.
    const github = githubFromFlags(f, log);
    if (!github) this.error('the patch parser needs GitHub credentials: --github-token-file, or --github-app-id and --github-app-key-file', { exit: 2 });
    const bot = new PatchParser({
      topic: f.topic,
      channel: f.channel,
      lookupd: f.lookupd,
      nsqd: f['nsqd-tcp'],
      publishTo: await publishAddress(f['nsqd-http'], f['nsqd-tcp'] ?? [], f.lookupd ?? []),
      github,
      botLogin: f['bot-login'],
      maxAttempts: f['max-attempts'],
      requeueDelayMs: f['requeue-delay'] * 1000,
      seal,
      log,
    });
    await bot.start();
    await untilStopSignal();
    log.info('stopping');
    await bot.stop();
    log.info('stopped');
  }
}
