import { Errors, Flags } from '@oclif/core';

import { loggerFor } from '../../ci/logger';
import { NSQ_NAME } from '../../ci/nsq-api';
import { PUSH_TOPIC } from '../../ci/push-event';
import { CiCommand } from '../../cli/ci-command';
import { githubFlags, githubFromFlags } from '../../cli/github-flags';
import { allowedHostFlag, dashboardNames, logLevelFlag, messageKeyFileFlag, messageSealFrom } from '../../cli/service-flags';
import { splitAddress } from '../../cli/options';
import { untilStopSignal } from '../../cli/signals';
import { startServer } from '../../server/app';
import { readToken } from '../../server/worker-token';

export default class CiServer extends CiCommand<typeof CiServer> {
  static override summary = 'the CI dashboard: builds, live logs, binaries and docs, from the events workers publish';
  static override description =
    'Consumes the build events (lxcts.builds) and log chunks (lxcts.logs, from workers started with --live-logs) on its own ' +
    'channel "server" into its own store (server.sqlite in the data directory), and serves the pages, the JSON API, ' +
    '/binaries and /docs from the data directory. With --worker-token-file, workers on other machines upload what they ' +
    'built (ci worker --server). With --admin-token-file, re-run and cancel work (buttons on a build page after logging in, ' +
    'ci rerun|cancel); with --read-token-file, reading needs a token too. With GitHub credentials (--github-token-file, or ' +
    "--github-app-id and --github-app-key-file), posts each job's commit status (context lxcts/JOB, linking to --public-url). " +
    "Answers only requests whose Host is an IP address, localhost, --listen's or --public-url's host, or an " +
    '--allowed-host, or that carry one of its tokens (a guard against DNS rebinding). Runs until SIGTERM or Ctrl-C.';
  static override examples = [
    '<%= config.bin %> ci server --listen 127.0.0.1:8090 --nsqd-tcp 127.0.0.1:4150 --nsqd-http 127.0.0.1:4151',
    '<%= config.bin %> ci server --listen 0.0.0.0:8090 --lookupd 10.0.0.5:4161 --worker-token-file /etc/lxcts/worker-token',
  ];
  static override flags = {
    'log-level': logLevelFlag,
    listen: Flags.string({ description: 'address and port to listen on (port 0: a free one)', default: '127.0.0.1:8090' }),
    'nsqd-tcp': Flags.string({ description: 'nsqd TCP address to consume from (repeatable), instead of --lookupd', multiple: true }),
    'nsqd-http': Flags.string({
      description:
        "nsqd HTTP address (repeatable) on which the server's channels are created at start: events published while the server is down wait there for it",
      multiple: true,
    }),
    lookupd: Flags.string({ description: 'nsqlookupd HTTP address to find nsqd through (repeatable)', multiple: true }),
    'worker-token-file': Flags.string({ description: 'file holding the token workers on other machines upload with (none: no uploads)' }),
    'admin-token-file': Flags.string({ description: 'file holding the admin token re-run and cancel need (none: they are refused)' }),
    'read-token-file': Flags.string({ description: 'file holding a token every page, API and file route then needs (none: reading is open)' }),
    'push-topic': Flags.string({ description: "the workers' topic of build requests, where re-runs go (their --topic)", default: PUSH_TOPIC }),
    'public-url': Flags.string({ description: 'the URL people reach this server at, which commit statuses link to (default: the listen URL)' }),
    'allowed-host': allowedHostFlag,
    'message-key-file': messageKeyFileFlag,
    ...githubFlags,
  };

  async run(): Promise<void> {
    const f = this.flags;
    if (!f['nsqd-tcp']?.length && !f.lookupd?.length) this.error('give --nsqd-tcp or --lookupd', { exit: 2 });
    if (!NSQ_NAME.test(f['push-topic'])) this.error(`--push-topic: "${f['push-topic']}" is not an NSQ topic name`, { exit: 2 });
    const [host, port] = splitAddress(f.listen);
    const token = (flag: 'worker-token-file' | 'admin-token-file' | 'read-token-file') => {
      const file = f[flag];
      if (file === undefined) return undefined;
      try {
        return readToken(file, flag.replace(/-file$/, '').replace(/-/g, ' '));
      } catch (err) {
        throw new Errors.CLIError(`--${flag}: ${(err as Error).message}`, { exit: 2, code: 'BAD_TOKEN_FILE' });
      }
    };
    const workerToken = token('worker-token-file');
    const log = loggerFor('server', f['log-level']);
    const seal = messageSealFrom(f['message-key-file'], log);
    const client = githubFromFlags(f, log);
    const { publicUrl, allowedHosts } = dashboardNames(f);
    const server = await startServer({
      dataDir: this.dataDir().root,
      host,
      port,
      nsqdTcp: f['nsqd-tcp'],
      nsqdHttp: f['nsqd-http'],
      lookupd: f.lookupd,
      workerToken,
      adminToken: token('admin-token-file'),
      readToken: token('read-token-file'),
      pushTopic: f['push-topic'],
      github: client ? { client, publicUrl } : undefined,
      publicUrl,
      allowedHosts,
      seal,
      log,
    });
    this.log(`lxcts CI server: ${server.url}/`);
    await untilStopSignal();
    await server.close();
  }
}
