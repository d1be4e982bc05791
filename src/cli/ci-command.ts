/** Base of the `lxcts ci` commands: the data directory and the build store. */
import { Command, Flags } from '@oclif/core';

import { Builder, BuilderOptions } from '../ci/builder';
import { DataDir, defaultDataDir, openDataDir } from '../ci/data-dir';
import { BuildStore } from '../ci/store';
import { LxcCommand } from './base-command';

export abstract class CiCommand<T extends typeof Command> extends LxcCommand<T> {
  static override baseFlags = {
    ...LxcCommand.baseFlags,
    'data-dir': Flags.string({
      description: 'where builds, logs, binaries and docs are kept (default: /var/lib/lxcts for root)',
      env: 'LXCTS_DATA_DIR',
      helpGroup: 'GLOBAL',
    }),
  };

  #store: BuildStore | undefined;

  protected dataDir(): DataDir {
    return openDataDir((this.flags as { 'data-dir'?: string })['data-dir'] ?? defaultDataDir());
  }

  protected store(): BuildStore {
    this.#store ??= new BuildStore(this.dataDir().database);
    return this.#store;
  }

  protected builder(options: BuilderOptions = {}): Builder {
    return new Builder(this.dataDir(), this.store(), options);
  }

  override async finally(err: Error | undefined): Promise<void> {
    this.#store?.close();
    await super.finally(err);
  }
}
