/**
 * What the server's operations views (/metrics, /queue) know of NSQ: one reading of every
 * nsqd's stats, taken through nsq-api.ts. The nsqds are the ones given (--nsqd-http) or,
 * failing that, every nsqd nsqlookupd knows. A failure is part of the reading (an nsqd
 * that does not answer is `up: false`), never thrown: the pages and the metrics must work
 * best when NSQ does not.
 *
 * Anyone who can reach /queue or /metrics would otherwise make the server read nsqd at each
 * request: NsqReadings shares one reading (per topic) between all the requests that come
 * while it is taken and for READING_SHARED_MS after.
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

/** How long a reading is handed out again after it was taken. */
export const READING_SHARED_MS = 1000;

/** Readings shared between requests: at most one at a time per topic, reused for READING_SHARED_MS. */
export class NsqReadings {
  /** Keyed by topic ('' for every topic); the topics are the server's own, so this stays small. */
  readonly #readings = new Map<string, { reading: Promise<NsqReading>; takenAt?: number }>();

  constructor(
    readonly addresses: NsqAddresses,
    private readonly now: () => number = Date.now,
  ) {}

  /** A reading of `topic` (every topic when undefined) at most READING_SHARED_MS old, or the one being taken. */
  read(topic?: string): Promise<NsqReading> {
    const key = topic ?? '';
    const shared = this.#readings.get(key);
    if (shared && (shared.takenAt === undefined || this.now() - shared.takenAt < READING_SHARED_MS)) return shared.reading;
    const entry: { reading: Promise<NsqReading>; takenAt?: number } = { reading: readNsq(this.addresses, topic) };
    // readNsq never rejects: a failure is part of the reading.
    void entry.reading.then(() => (entry.takenAt = this.now()));
    this.#readings.set(key, entry);
    return entry.reading;
  }
}

/** fetch's "fetch failed" hides the reason (ECONNREFUSED...) in `cause`. */
function errorText(err: unknown): string {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  const cause = e.cause?.code ?? e.cause?.message;
  return cause ? `${e.message} (${cause})` : e.message;
}
