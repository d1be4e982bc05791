import { listBases } from '../../../ci/bases';
import { CiCommand } from '../../../cli/ci-command';

export default class CiBaseList extends CiCommand<typeof CiBaseList> {
  static override summary = 'list base containers';
  static override examples = ['<%= config.bin %> ci base list'];

  async run(): Promise<string[]> {
    const bases = await listBases(this.dataDir().bases);
    for (const base of bases) this.log(base);
    return bases;
  }
}
