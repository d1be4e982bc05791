/** `--log-level` of the CI services (ci webhook, worker, server, gc); see src/ci/logger.ts. */
import { Flags } from '@oclif/core';

import { LOG_LEVELS } from '../ci/logger';

export const logLevelFlag = Flags.option({
  options: LOG_LEVELS,
  description: 'least severe log line printed (JSON lines; readable ones when stdout is a terminal)',
  env: 'LXCTS_LOG_LEVEL',
  default: 'info' as const,
})();
