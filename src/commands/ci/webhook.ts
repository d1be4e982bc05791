import { once } from 'node:events';
import * as path from 'node:path';

import { Errors, Flags } from '@oclif/core';

import { DeliveryLog } from '../../ci/deliveries';
import { loggerFor } from '../../ci/logger';
import { SpooledPublisher } from '../../ci/nsq-spool';
import { PUSH_TOPIC } from '../../ci/push-event';
import { createWebhookServer } from '../../ci/webhook';
import { CiCommand } from '../../cli/ci-command';
import { logLevelFlag, messageKeyFileFlag, messageSealFrom } from '../../cli/service-flags';
import { splitAddress } from '../../cli/options';
import { deprecatedAlias } from '../../cli/shared-options';
import { readSecretFile } from '../../cli/secret-file';
import { untilStopSignal } from '../../cli/signals';

export default class CiWebhook extends CiCommand<typeof CiWebhook> {
  static override summary = 'receive GitHub (or Gitea, Forgejo, git hook) push webhooks and publish them to NSQ';
  static override description =
    'Every push is published to --topic. The topic and each --channel (default: binaries and docs) are created on nsqd ' +
    'before the first publish: list every channel your workers use, or a channel whose first worker connects later ' +
    'misses the pushes made before.';
  static override examples = [
    '<%= config.bin %> ci webhook --listen 0.0.0.0:8080 --secret-file /etc/lxcts/secret --nsqd-http 127.0.0.1:4151',
    '<%= config.bin %> ci webhook --secret-file /etc/lxcts/secret --channel binaries --channel docs --channel lint',
  ];
  static override flags = {
    'log-level': logLevelFlag,
    listen: Flags.string({ description: 'address and port to listen on', default: '127.0.0.1:8080' }),
    'secret-file': Flags.string({ description: 'file holding the webhook secret (required: no secret, no receiver)', required: true }),
    'nsqd-http': Flags.string({ description: 'nsqd HTTP address to publish to', default: '127.0.0.1:4151', ...deprecatedAlias('nsqd') }),
    topic: Flags.string({ description: 'topic of build requests', default: PUSH_TOPIC }),
    channel: Flags.string({
      description:
        'a worker channel (job kind) that must get every push (repeatable): created on nsqd with the topic before the first publish, ' +
        'so pushes made before its first worker connects are kept for it',
      multiple: true,
      default: ['binaries', 'docs'],
    }),
    'message-key-file': messageKeyFileFlag,
  };

  async run(): Promise<void> {
    const secret = readSecretFile(this.flags['secret-file']);
    const data = this.dataDir();
    const log = loggerFor('webhook', this.flags['log-level']);
    const seal = messageSealFrom(this.flags['message-key-file'], log);
    const deliveries = new DeliveryLog(path.join(data.root, 'deliveries.sqlite'));
    let publisher: SpooledPublisher;
    try {
      publisher = new SpooledPublisher(this.flags['nsqd-http'], this.flags.topic, path.join(data.root, 'spool'), log, 1000, this.flags.channel, seal);
    } catch (err) {
      throw new Errors.CLIError((err as Error).message, { exit: 2, code: 'BAD_NSQ_NAME' });
    }
    await publisher.prepare();
    publisher.start();
    void publisher.flush();
    const server = createWebhookServer({ secret, publisher, deliveries, log });
    const [host, port] = splitAddress(this.flags.listen);
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, host, resolve));
    log.info({ listen: this.flags.listen, nsqd: this.flags['nsqd-http'], topic: this.flags.topic, channels: this.flags.channel }, 'webhook receiver listening');
    await untilStopSignal();
    publisher.stop();
    server.close();
    await once(server, 'close');
    deliveries.close();
    log.info('webhook receiver stopped');
  }
}
