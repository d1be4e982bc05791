/** Where things are, whether this runs compiled (bench/out/bench/lib) or from source. */
import * as path from 'node:path';

import { ROOT } from '../../test/helpers/root';

export { ROOT };
/** Sources of the peers written in other languages. */
export const PEERS_SRC = path.join(ROOT, 'bench', 'peers');
/** Built peers and the compiled bench (not under build/: node-gyp rebuild empties that). */
export const BENCH_BUILD = path.join(ROOT, 'bench', 'out');
export const RESULTS = path.join(ROOT, 'bench', 'results');
