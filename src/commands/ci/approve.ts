import { ControlCommand } from '../../cli/control-command';
import type { ControlAnswer } from '../../server/control-client';

export default class CiApprove extends ControlCommand<typeof CiApprove> {
  static override summary = "approve a fork's pull request build that waits on the CI server";
  static override description =
    'Workers started with --fork-approval build nothing of a pull request from a fork until a maintainer approves it: the ' +
    'build waits on the CI server. Approving sends it to the workers (still as a fork: no secrets, no network) and remembers ' +
    "the fork and the pull request's author, whose later pull requests are approved as they come. Needs the admin token.";
  static override examples = [
    '<%= config.bin %> ci approve 42',
    '<%= config.bin %> ci approve 42 --server http://ci.example:8090 --admin-token-file ~/.lxcts-admin --json',
  ];

  async run(): Promise<ControlAnswer> {
    return this.control('approve');
  }
}
