/**
 * The operator's ceilings on what a job may ask for (`ci worker`, `ci build`), named as
 * Incus and Docker users would expect. Unset: the ceilings of src/ci/limits.ts.
 */
import { Errors, Flags } from '@oclif/core';

import { DEFAULT_CEILINGS, formatBytes, Limits, parseDuration, parseSize } from '../ci/limits';

/** A bad flag value is a usage error: exit status 2, like the other flags'. */
function usage(message: string): Error {
  return new Errors.CLIError(message, { exit: 2 });
}

function size(flag: string) {
  return async (text: string): Promise<number> => {
    const bytes = parseSize(text);
    if (!bytes) throw usage(`--${flag} expects a size such as 512M, 8G or 1T, got "${text}"`);
    return bytes;
  };
}

export const limitFlags = {
  'max-memory': Flags.custom<number>({
    description: `most memory a job may ask for (default ${formatBytes(DEFAULT_CEILINGS.memory)})`,
    parse: size('max-memory'),
    helpGroup: 'LIMITS',
  })(),
  'max-pids': Flags.integer({ description: `most processes a job may ask for (default ${DEFAULT_CEILINGS.pids})`, min: 1, helpGroup: 'LIMITS' }),
  'max-cpus': Flags.custom<number>({
    description: "most CPUs a job may ask for, fractions allowed (default: this machine's CPUs)",
    parse: async (text) => {
      const cpus = Number(text);
      if (!(cpus > 0)) throw usage(`--max-cpus expects a number of CPUs such as 2 or 0.5, got "${text}"`);
      return cpus;
    },
    helpGroup: 'LIMITS',
  })(),
  'max-disk': Flags.custom<number>({
    description: `most disk a job may ask for (default ${formatBytes(DEFAULT_CEILINGS.disk)})`,
    parse: size('max-disk'),
    helpGroup: 'LIMITS',
  })(),
  'max-log': Flags.custom<number>({
    description: `largest build log a job may ask for (default ${formatBytes(DEFAULT_CEILINGS.log)})`,
    parse: size('max-log'),
    helpGroup: 'LIMITS',
  })(),
  'max-timeout': Flags.custom<number>({
    description: `longest timeout a job may ask for, e.g. 90m or 3h (default ${DEFAULT_CEILINGS.timeout / 3_600_000}h)`,
    parse: async (text) => {
      const ms = parseDuration(text);
      if (!ms) throw usage(`--max-timeout expects a duration such as 90m or 3h, got "${text}"`);
      return ms;
    },
    helpGroup: 'LIMITS',
  })(),
};

type LimitFlagValues = { [K in keyof typeof limitFlags]?: number };

export function ceilingsFrom(flags: LimitFlagValues): Partial<Limits> {
  return {
    memory: flags['max-memory'],
    pids: flags['max-pids'],
    cpus: flags['max-cpus'],
    disk: flags['max-disk'],
    log: flags['max-log'],
    timeout: flags['max-timeout'],
  };
}
