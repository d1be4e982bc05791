/** Flags the CI services share: the log level, the dashboard's Host names, the NSQ message key, and the retention policy (ci gc, ci worker). */
import { Errors, Flags } from '@oclif/core';

import { type Logger, LOG_LEVELS } from '../ci/logger';
import { loadMessageSeal, type MessageSeal } from '../ci/message-seal';
import { DEFAULT_RETENTION } from '../ci/retention';
import { normalizeBaseUrl } from '../github/client';
import { allowedHostName } from '../server/host-check';

/** `--log-level` of ci webhook, worker, server: see src/ci/logger.ts. */
export const logLevelFlag = Flags.option({
  options: LOG_LEVELS,
  description: 'least severe log line printed (JSON lines; readable ones when stdout is a terminal)',
  env: 'LXCTS_LOG_LEVEL',
  default: 'info' as const,
})();

/** `--allowed-host` of ci server and ci up: the Host names the dashboard answers to besides its own (src/server/host-check.ts). */
export const allowedHostFlag = Flags.string({
  description:
    "a host name requests may carry in Host besides IP addresses, localhost, --listen's and --public-url's host " +
    '(repeatable; a guard against DNS rebinding); * accepts any, behind a proxy that checks Host',
  multiple: true,
});

/** `--public-url` and `--allowed-host` as ci server and ci up take them; an unusable one is a usage error (exit 2). */
export function dashboardNames(f: { 'public-url'?: string; 'allowed-host'?: string[] }): { publicUrl?: string; allowedHosts: string[] } {
  const parsed = <T>(flag: string, read: () => T): T => {
    try {
      return read();
    } catch (err) {
      throw new Errors.CLIError(`--${flag}: ${(err as Error).message}`, { exit: 2 });
    }
  };
  return {
    publicUrl: parsed('public-url', () => (f['public-url'] === undefined ? undefined : normalizeBaseUrl(f['public-url']))),
    allowedHosts: parsed('allowed-host', () => (f['allowed-host'] ?? []).map(allowedHostName)),
  };
}

/** `--message-key-file` of ci webhook, worker and server: the key every message on nsqd is sealed with (src/ci/message-seal.ts). */
export const messageKeyFileFlag = Flags.string({
  description:
    'file (mode 0600, at least 32 bytes, e.g. openssl rand -hex 32) holding the key every NSQ message is signed with: ' +
    'messages without its signature are dropped; the same file on every receiver, worker and server (none: nsqd is trusted)',
});

/** The seal of `--message-key-file` (none: a warning that nsqd is trusted); an unusable file is a usage error (exit 2). */
export function messageSealFrom(file: string | undefined, log: Logger): MessageSeal {
  try {
    return loadMessageSeal(file, log);
  } catch (err) {
    throw new Errors.CLIError(`--message-key-file: ${(err as Error).message}`, { exit: 2, code: 'BAD_MESSAGE_KEY' });
  }
}

/** The retention policy (src/ci/retention.ts), alike on ci gc and ci worker. */
export const retentionFlags = {
  'keep-versions': Flags.integer({
    description: 'binaries and docs versions kept per branch whatever their age (besides those a branch pointer names)',
    default: DEFAULT_RETENTION.keep,
    min: 0,
  }),
  'expire-days': Flags.integer({
    description: 'days after which other versions, and logs of builds no longer the newest of their ref and job, are removed',
    default: DEFAULT_RETENTION.days,
    min: 0,
  }),
};
