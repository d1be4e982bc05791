import { Errors, Flags } from '@oclif/core';

import { loggerFor } from '../../ci/logger';
import { CiCommand } from '../../cli/ci-command';
import { logLevelFlag } from '../../cli/service-flags';
import { splitAddress } from '../../cli/options';
import { untilStopSignal } from '../../cli/signals';
import { startServer } from '../../server/app';
import { readWorkerToken } from '../../server/worker-token';

export default class CiServer extends CiCommand<typeof CiServer> {
  static override summary = 'the CI dashboard: builds, live logs, binaries and docs, from the events workers publish';
  static override description =
    'Consumes the build events (lxcts.builds) and log chunks (lxcts.logs, from workers started with --live-logs) on its own ' +
    'channel "server" into its own store (server.sqlite in the data directory), and serves the pages, the JSON API, ' +
    '/binaries and /docs from the data directory. With --worker-token-file, workers on other machines upload what they ' +
    'built (ci worker --server). Runs until SIGTERM or Ctrl-C.';
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
    'admin-token-file': Flags.string({ description: 'file holding the admin token (checked at start; re-run and cancel will need it)' }),
  };

  async run(): Promise<void> {
    const f = this.flags;
    if (!f['nsqd-tcp']?.length && !f.lookupd?.length) this.error('give --nsqd-tcp or --lookupd', { exit: 2 });
    const [host, port] = splitAddress(f.listen);
    const token = (flag: 'worker-token-file' | 'admin-token-file') => {
      const file = f[flag];
      if (file === undefined) return undefined;
      try {
        return readWorkerToken(file);
      } catch (err) {
        throw new Errors.CLIError(`--${flag}: ${(err as Error).message}`, { exit: 2, code: 'BAD_TOKEN_FILE' });
      }
    };
    const workerToken = token('worker-token-file');
    token('admin-token-file');
    const server = await startServer({
      dataDir: this.dataDir().root,
      host,
      port,
      nsqdTcp: f['nsqd-tcp'],
      nsqdHttp: f['nsqd-http'],
      lookupd: f.lookupd,
      workerToken,
      log: loggerFor('server', f['log-level']),
    });
    this.log(`lxcts CI server: ${server.url}/`);
    await untilStopSignal();
    await server.close();
  }
}
