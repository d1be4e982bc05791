/**
 * What the server's operations views (/metrics, /queue) know of NSQ: one reading of every
 * nsqd's stats, taken through nsq-api.ts. The nsqds are the ones given (--nsqd-http) or,
 * failing that, every nsqd nsqlookupd knows. A failure is part of the reading (an nsqd
 * that does not answer is `up: false`), never thrown: the pages and the metrics must work
 * best when NSQ does not.
 */
import { listNsqdHttp, type NsqdStats, readNsqdStats } from '../ci/nsq-api';

export interface NsqAddresses {
  /** nsqd HTTP addresses (host:port): read these... */
  nsqdHttp?: readonly string[];
  /** ...or every nsqd these nsqlookupd HTTP addresses know. */
  lookupd?: readonly string[];
}

export interface NsqdReading {
  /** host:port of the nsqd's HTTP port. */
  nsqd: string;
  up: boolean;
  /** Why it is not up. */
  error?: string;
  stats?: NsqdStats;
}

export interface NsqReading {
  /** When the reading was taken (ms since the epoch). */
  at: number;
  nsqds: NsqdReading[];
  /** Why no nsqd could be named (nsqlookupd down, or no address given). */
  problem?: string;
}

/** Reads every nsqd once, at the same time; `topic` narrows the stats to one topic. */
export async function readNsq(addresses: NsqAddresses, topic?: string): Promise<NsqReading> {
  const at = Date.now();
  let nsqds: readonly string[] = addresses.nsqdHttp ?? [];
  if (nsqds.length === 0 && addresses.lookupd?.length) {
    try {
      nsqds = await listNsqdHttp(addresses.lookupd);
    } catch (err) {
      return { at, nsqds: [], problem: `nsqlookupd unreachable: ${(err as Error).message}` };
    }
    if (nsqds.length === 0) return { at, nsqds: [], problem: 'nsqlookupd knows no nsqd' };
  }
  if (nsqds.length === 0) return { at, nsqds: [], problem: 'no nsqd HTTP address given (--nsqd-http or --lookupd)' };
  const readings = await Promise.all(
    nsqds.map(async (nsqd): Promise<NsqdReading> => {
      try {
        return { nsqd, up: true, stats: await readNsqdStats(nsqd, topic) };
      } catch (err) {
        return { nsqd, up: false, error: errorText(err) };
      }
    }),
  );
  return { at, nsqds: readings };
}

/** fetch's "fetch failed" hides the reason (ECONNREFUSED...) in `cause`. */
function errorText(err: unknown): string {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  const cause = e.cause?.code ?? e.cause?.message;
  return cause ? `${e.message} (${cause})` : e.message;
}
