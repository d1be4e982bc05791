/**
 * A private lxcpath per test file, with unique container names and a cleanup that works
 * even when the code under test is broken: it uses the lxc-* tools, not lxcts.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { Container } from '../../src';
import { containersIn, destroyAllWithTools } from './lxc-tools';

// Kept importable from here: most suites take them with the Sandbox.
export { failureOf, failureOfSync } from './failure';

export class Sandbox {
  readonly lxcpath: string;
  readonly #containers: Container[] = [];
  #seq = 0;

  constructor(label: string) {
    this.lxcpath = fs.mkdtempSync(path.join(os.tmpdir(), `lxcts-${label}-`));
  }

  /** A name no other test uses: short enough for every template. */
  name(label = 'c'): string {
    return `${label}-${process.pid}-${this.#seq++}`;
  }

  container(name = this.name()): Container {
    const c = new Container(name, { lxcpath: this.lxcpath });
    this.#containers.push(c);
    return c;
  }

  /**
   * A busybox container with no network device (tests must not reach past this machine;
   * network tests set up their own).
   */
  async busybox(name = this.name()): Promise<Container> {
    const c = this.container(name);
    await c.clearConfigItem('lxc.net');
    await c.setConfigItem('lxc.net.0.type', 'empty');
    await c.create({ template: 'busybox' });
    return c;
  }

  /** Names of the containers that have a directory in this lxcpath. */
  leftovers(): string[] {
    return containersIn(this.lxcpath);
  }

  async cleanup(): Promise<void> {
    await Promise.allSettled(this.#containers.map((c) => c.release()));
    destroyAllWithTools(this.lxcpath);
  }
}

// The one fd counter is procfs.fdCount; this name stays for the suites that use it.
export { fdCount as openFdCount } from './procfs';
