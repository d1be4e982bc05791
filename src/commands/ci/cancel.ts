import { ControlCommand } from '../../cli/control-command';
import type { ControlAnswer } from '../../server/control-client';

export default class CiCancel extends ControlCommand<typeof CiCancel> {
  static override summary = 'stop a queued or running build, on whichever worker runs it';
  static override description =
    'Asks the CI server (ci server --admin-token-file) to tell the workers: the one running the build stops it and records it ' +
    'cancelled; the command returns once the message is sent. Needs the admin token.';
  static override examples = [
    '<%= config.bin %> ci cancel 42',
    '<%= config.bin %> ci cancel 42 --server http://ci.example:8090 --admin-token-file ~/.lxcts-admin --json',
  ];

  async run(): Promise<ControlAnswer> {
    return this.control('cancel');
  }
}
