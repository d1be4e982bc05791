/**
 * The detach sequence of `lxcts console`, as lxc-console's: the escape key (Ctrl-a unless
 * --escape says otherwise) then `q` detaches; the escape key twice sends it once; the
 * escape key then anything else sends both. Keys arrive in chunks of any size, so the state
 * (an escape key waiting for the next one) is kept between chunks.
 */
export class EscapeReader {
  readonly #escape: number;
  #pending = false;

  /** `escape`: the control key's letter, e.g. "a" for Ctrl-a. */
  constructor(escape: string) {
    this.#escape = escapeByte(escape);
  }

  /** What to send to the console from `chunk`, and whether the detach sequence was typed. */
  feed(chunk: Buffer): { send: Buffer; detach: boolean } {
    const out: number[] = [];
    for (const byte of chunk) {
      if (this.#pending) {
        this.#pending = false;
        if (byte === 0x71 /* q */) return { send: Buffer.from(out), detach: true };
        if (byte !== this.#escape) out.push(this.#escape);
        out.push(byte);
      } else if (byte === this.#escape) {
        this.#pending = true;
      } else {
        out.push(byte);
      }
    }
    return { send: Buffer.from(out), detach: false };
  }
}

/** "a" → 0x01 (Ctrl-a) ... "z" → 0x1a. Anything else is a TypeError. */
export function escapeByte(letter: string): number {
  if (!/^[a-z]$/i.test(letter)) throw new TypeError(`Expected one letter for the escape key (Ctrl plus that letter) but received ${JSON.stringify(letter)}`);
  return letter.toLowerCase().charCodeAt(0) - 0x60;
}
