/**
 * Masking of secret values in what a build shows (its log on disk, the live chunks, the
 * messages of its events): every form of a value a step is likely to print is replaced by
 * `***`. Pure and synchronous, on bytes: build output is not necessarily text.
 *
 * The forms: the value itself, its URL encoding (encodeURIComponent), and its base64, both
 * alphabets, with and without padding, wherever the value sits in a longer base64 stream
 * (`cat key | base64`, a value inside a JSON blob encoded whole). A value starting at byte
 * k of such a stream shows up as different characters for k mod 3 = 0, 1, 2; for each, the
 * characters that depend on the value's bits alone are a fixed string, which is masked.
 */

export const MASK = '***';

/** Encoded forms shorter than this are not masked: they would hide ordinary text. */
const MIN_ENCODED = 4;

/** The byte strings that stand for `value` in output. */
export function maskPatterns(value: string): Buffer[] {
  const raw = Buffer.from(value);
  if (raw.length === 0) return [];
  const forms = new Set<string>();
  const encoded = encodeURIComponent(value);
  if (encoded !== value) forms.add(encoded);
  for (let k = 0; k < 3; k++) {
    const stream = Buffer.concat([Buffer.alloc(k), raw]);
    // Character i of base64 carries bits [6i, 6i + 6): those within the value's bits only.
    const first = Math.ceil((8 * k) / 6);
    const end = Math.floor((8 * (k + raw.length)) / 6);
    for (const alphabet of ['base64', 'base64url'] as const) {
      const inner = stream.toString(alphabet).slice(first, end);
      if (inner.length >= MIN_ENCODED) forms.add(inner);
    }
  }
  // The value's own base64, padding included (a whole line of `base64` output).
  const own = raw.toString('base64');
  if (own.length >= MIN_ENCODED) forms.add(own);
  const patterns = [raw, ...[...forms].map((form) => Buffer.from(form))];
  return patterns.filter((p, i) => patterns.findIndex((q) => q.equals(p)) === i);
}

/**
 * Masks the values of one build: `mask` for whole strings (messages, notes), `write` and
 * `end` for output that arrives in pieces, where a value may be split across two writes.
 */
export class SecretMasker {
  readonly #patterns: Buffer[];
  /** The longest pattern's length: at most this minus one byte is held back between writes. */
  readonly #longest: number;
  #pending: Buffer = Buffer.alloc(0);

  constructor(values: Iterable<string>) {
    // Longest first, so that a form containing another is masked whole.
    this.#patterns = [...values].flatMap(maskPatterns).sort((a, b) => b.length - a.length);
    this.#longest = Math.max(0, ...this.#patterns.map((p) => p.length));
  }

  /** True when there is nothing to mask: callers may skip the masker. */
  get empty(): boolean {
    return this.#patterns.length === 0;
  }

  /** A whole string, masked. */
  mask(text: string): string {
    if (this.empty) return text;
    const bytes = Buffer.from(text);
    return masked(bytes, this.#matches(bytes), bytes.length).toString();
  }

  /**
   * The next piece of output: returns what can be shown now. The end of it that could be
   * the start of a value is held back until the next write (or `end`) says whether it is.
   */
  write(chunk: Buffer | string): Buffer {
    const piece = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    if (this.empty) return piece;
    const data = this.#pending.length > 0 ? Buffer.concat([this.#pending, piece]) : piece;
    const matches = this.#matches(data);
    let hold = this.#heldFrom(data);
    // A match running into the held-back bytes is held back whole: the next write may extend it.
    for (const [start, end] of matches) if (start < hold && end > hold) hold = start;
    this.#pending = Buffer.from(data.subarray(hold));
    return masked(data, matches, hold);
  }

  /** What is still held back, masked: the output ended. */
  end(): Buffer {
    const data = this.#pending;
    this.#pending = Buffer.alloc(0);
    return masked(data, this.#matches(data), data.length);
  }

  /** Where the shortest tail of `data` that is the beginning of some pattern starts (`data.length` when none). */
  #heldFrom(data: Buffer): number {
    for (let start = Math.max(0, data.length - this.#longest + 1); start < data.length; start++) {
      const tail = data.subarray(start);
      if (this.#patterns.some((p) => p.length > tail.length && p.subarray(0, tail.length).equals(tail))) return start;
    }
    return data.length;
  }

  /** Every occurrence of every pattern, as [start, end) ranges merged where they overlap, in order. */
  #matches(data: Buffer): Array<[number, number]> {
    const ranges: Array<[number, number]> = [];
    for (const pattern of this.#patterns) {
      for (let at = data.indexOf(pattern); at !== -1; at = data.indexOf(pattern, at + 1)) ranges.push([at, at + pattern.length]);
    }
    ranges.sort((a, b) => a[0] - b[0]);
    const merged: Array<[number, number]> = [];
    for (const range of ranges) {
      const last = merged[merged.length - 1];
      if (last && range[0] < last[1]) last[1] = Math.max(last[1], range[1]);
      else merged.push([...range]);
    }
    return merged;
  }
}

/** data[0, upTo) with each range before upTo replaced by MASK. */
function masked(data: Buffer, ranges: Array<[number, number]>, upTo: number): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  for (const [start, end] of ranges) {
    if (start >= upTo) break;
    parts.push(data.subarray(at, start), Buffer.from(MASK));
    at = Math.min(end, upTo);
  }
  parts.push(data.subarray(at, upTo));
  return Buffer.concat(parts);
}
