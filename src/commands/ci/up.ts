import { once } from 'node:events';

import { Errors, Flags } from '@oclif/core';

import { CiCommand } from '../../cli/ci-command';
import { githubCredentialsGiven, githubFlags } from '../../cli/github-flags';
import { allowedHostFlag, dashboardNames } from '../../cli/service-flags';
import { abortOn } from '../../cli/signals';
import type { ComponentError } from '../../up/supervisor';
import { DEFAULT_CHANNELS, defaultAllowLocal, startUp } from '../../up/up';

const port = (what: string) => Flags.integer({ description: `${what} (default: a free port)`, min: 1, max: 65535, helpGroup: 'PORTS' });

/** Ctrl-C, kill, and the terminal closing: each stops everything in order. */
const STOP_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

export default class CiUp extends CiCommand<typeof CiUp> {
  static override summary = 'the whole CI on this machine: nsqd, nsqlookupd, the webhook receiver, the dashboard and a worker per job channel';
  static override description =
    'Starts each part as a child process, in order, each once the one before answers, and prints every line they log ' +
    "with the part's name in front. Makes a webhook secret, an admin token and the key NSQ messages are signed with in the data directory if there are none " +
    '(mode 0600), prints the dashboard and webhook URLs, and writes them to up.json in the data directory while all ' +
    'runs. Ctrl-C or SIGTERM stops the workers first (running builds are cancelled and requeued, their containers ' +
    'destroyed), then the rest; a part that exits on its own stops everything with exit code 1. One ci up per data directory. ' +
    'With GitHub credentials (--github-token-file, or --github-app-id and --github-app-key-file) the dashboard posts ' +
    "each job's commit status (linking to --public-url) and a patch-parser worker checks every pull request.";
  static override examples = [
    '<%= config.bin %> ci up',
    '<%= config.bin %> ci up --dashboard-port 8090 --webhook-port 8080 --host 0.0.0.0',
    '<%= config.bin %> ci up --channel binaries --channel docs --channel lint --allow-local /srv/git',
    '<%= config.bin %> ci up --host 0.0.0.0 --github-token-file /etc/lxcts/github-token --public-url https://ci.example.org',
  ];
  static override enableJsonFlag = false;
  static override flags = {
    host: Flags.string({ description: 'address the dashboard and the webhook receiver listen on (NSQ stays on loopback)', default: '127.0.0.1' }),
    'dashboard-port': port("the dashboard's port"),
    'webhook-port': port("the webhook receiver's port"),
    'nsqd-tcp-port': port("nsqd's TCP port"),
    'nsqd-http-port': port("nsqd's HTTP port"),
    'lookupd-tcp-port': port("nsqlookupd's TCP port"),
    'lookupd-http-port': port("nsqlookupd's HTTP port"),
    channel: Flags.string({ description: 'a job channel to run a worker for (repeatable)', multiple: true, default: DEFAULT_CHANNELS }),
    'allow-local': Flags.string({
      description:
        'directory of local repositories (paths, file://) the workers may build, e.g. hooked bare repositories (repeatable; default: <data-dir>/repos)',
      multiple: true,
    }),
    grace: Flags.integer({ description: 'seconds running builds get to finish on Ctrl-C before they are cancelled and requeued', default: 0, min: 0 }),
    'public-url': Flags.string({ description: 'the URL people reach the dashboard at, which commit statuses link to (default: its listen URL)' }),
    'allowed-host': allowedHostFlag,
    ...githubFlags,
    'fork-approval': Flags.boolean({
      description: "the workers build a fork's pull request only once the admin approved it on the dashboard (ci approve)",
      default: false,
    }),
    'bot-login': Flags.string({ description: "the patch parser's GitHub login: only its comments are edited (default: any comment opening with its marker)" }),
  };

  async run(): Promise<void> {
    const f = this.flags;
    const stopSignal = abortOn(STOP_SIGNALS);
    const dataDir = this.dataDir().root;
    const allowLocal = f['allow-local']?.length ? f['allow-local'] : [defaultAllowLocal(dataDir)];
    // Checked here, as ci server checks them: unusable ones are a usage error, not a child failing its start.
    const github = githubCredentialsGiven(f);
    const { allowedHosts } = dashboardNames(f);
    const up = await startUp({
      dataDir,
      host: f.host,
      ports: {
        dashboard: f['dashboard-port'],
        webhook: f['webhook-port'],
        'nsqd-tcp': f['nsqd-tcp-port'],
        'nsqd-http': f['nsqd-http-port'],
        'lookupd-tcp': f['lookupd-tcp-port'],
        'lookupd-http': f['lookupd-http-port'],
      },
      channels: f.channel,
      allowLocal,
      graceSeconds: f.grace,
      github: github ? f : undefined,
      publicUrl: f['public-url'],
      allowedHosts,
      botLogin: f['bot-login'],
      forkApproval: f['fork-approval'],
      signal: stopSignal.signal,
    }).catch((err: Error & { code?: string }) => {
      stopSignal.stop();
      if (err.code === 'INTERRUPTED') this.exit(0);
      throw new Errors.CLIError(err.message, { exit: err.code === 'COMPONENT_FAILED' ? 1 : 2, code: err.code });
    });
    const { state, created } = up;
    const made = (yes: boolean) => (yes ? 'made now' : 'kept');
    this.log(`
lxcts CI is up
  dashboard:       ${state.dashboard}/
  webhook:         ${state.webhook}
  webhook secret:  ${state.webhookSecretFile} (${made(created.webhookSecret)})
  admin token:     ${state.adminTokenFile} (${made(created.adminToken)})
  message key:     ${state.messageKeyFile} (${made(created.messageKey)}; every NSQ message is signed with it)
  nsqd:            ${state.nsqdTcp} (TCP), ${state.nsqdHttp} (HTTP); nsqlookupd ${state.lookupdHttp} (HTTP)
  GitHub:          ${github ? `commit statuses and the patch parser, through ${f['github-api-url']}` : 'off (no --github-token-file or GitHub App)'}
  data directory:  ${dataDir} (these addresses are in up.json there while this runs)
A bare repository under ${allowLocal.join(' or ')} pushes here once hooked:
  lxcts ci hook install REPO.git --url ${state.webhook} --secret-file ${state.webhookSecretFile}
Ctrl-C stops everything.
`);
    // Either may have aborted already (a signal or a crash just as the start ended): once() would never see it.
    const aborted = (signal: AbortSignal) => (signal.aborted ? Promise.resolve() : once(signal, 'abort'));
    await Promise.race([aborted(stopSignal.signal), aborted(up.crashed)]);
    stopSignal.stop();
    // A second Ctrl-C while stopping: no more waiting for anyone.
    const hurry = abortOn(STOP_SIGNALS);
    hurry.signal.addEventListener('abort', () => up.kill());
    const crash = up.crashed.aborted ? (up.crashed.reason as ComponentError) : undefined;
    // Its last lines are on the terminal already, each with its name.
    if (crash) this.logToStderr(`lxcts ci up: ${crash.summary}; stopping everything`);
    await up.close();
    hurry.stop();
    if (crash) this.exit(1);
  }
}
