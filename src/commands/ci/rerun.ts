import { ControlCommand } from '../../cli/control-command';
import type { ControlAnswer } from '../../server/control-client';

export default class CiRerun extends ControlCommand<typeof CiRerun> {
  static override summary = "build a finished build's commit and job again, on the CI server's workers";
  static override description =
    'Asks the CI server (ci server --admin-token-file) to publish the push again for that job only: a new build of the same ' +
    'commit, even when it succeeded. Needs the admin token.';
  static override examples = [
    '<%= config.bin %> ci rerun 42',
    '<%= config.bin %> ci rerun 42 --server http://ci.example:8090 --admin-token-file ~/.lxcts-admin --json',
  ];

  async run(): Promise<ControlAnswer> {
    return this.control('rerun');
  }
}
