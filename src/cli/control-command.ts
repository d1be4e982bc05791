/** What `ci rerun` and `ci cancel` share: the server, the admin token file, one call, the answer. */
import * as os from 'node:os';
import * as path from 'node:path';

import { Args, Command, Errors, Flags } from '@oclif/core';

import { MAX_API_REQUESTER } from '../ci/control-message';
import { defaultDataDir } from '../ci/data-dir';
import type { ControlAction } from '../server/control';
import { type ControlAnswer, ControlError, requestControl } from '../server/control-client';
import { readToken } from '../server/worker-token';
import { CiCommand } from './ci-command';

/** The data directory's admin token (where `ci up` writes one). */
export const ADMIN_TOKEN_FILE = 'admin-token';

export abstract class ControlCommand<T extends typeof Command> extends CiCommand<T> {
  static override args = { id: Args.integer({ description: "build id (the server's, as on its pages)", required: true, min: 1 }) };
  static override flags = {
    server: Flags.string({ description: "the CI server's URL", default: 'http://127.0.0.1:8090' }),
    'admin-token-file': Flags.string({ description: `file holding the server's admin token (default: <data-dir>/${ADMIN_TOKEN_FILE})` }),
  };

  protected async control(action: ControlAction): Promise<ControlAnswer> {
    const f = this.flags as { server: string; 'admin-token-file'?: string; 'data-dir'?: string };
    const { id } = this.args as { id: number };
    if (!/^https?:\/\/[^/]/.test(f.server)) throw new Errors.CLIError(`--server expects http(s)://HOST:PORT, got "${f.server}"`, { exit: 2 });
    const file = f['admin-token-file'] ?? path.join(f['data-dir'] ?? defaultDataDir(), ADMIN_TOKEN_FILE);
    let token: string;
    try {
      token = readToken(file, 'admin token');
    } catch (err) {
      throw new Errors.CLIError(`--admin-token-file: ${(err as Error).message}`, { exit: 2, code: 'BAD_TOKEN_FILE' });
    }
    // Who asked, as the build's message will say it ("cancelled by admin (alice@host)").
    const by = `${os.userInfo().username}@${os.hostname()}`.replace(/[^\x21-\x7e]/g, '').slice(0, MAX_API_REQUESTER);
    try {
      const answer = await requestControl({ server: f.server, token, action, build: id, by: by || undefined });
      this.log(answer.message);
      return answer;
    } catch (err) {
      if (err instanceof ControlError) throw new Errors.CLIError(err.message, { exit: 1, code: err.code });
      throw err;
    }
  }
}
