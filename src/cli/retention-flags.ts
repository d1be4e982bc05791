/** The retention policy's flags, alike on `ci gc` and `ci worker` (src/ci/retention.ts). */
import { Flags } from '@oclif/core';

import { DEFAULT_RETENTION } from '../ci/retention';

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
