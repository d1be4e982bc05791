/**
 * A build's log on the user's terminal (`ci logs`, from this machine or a CI server): the
 * bytes are a stranger's (whoever pushed, or opened a pull request), and a terminal obeys
 * more than colours. Kept: text (bytes, never decoded: a log need not be UTF-8), tab,
 * newline, carriage return and backspace (progress bars), SGR colours and styles, and the
 * cursor moves and line erases progress bars use (CSI A B C D G K with numbers only).
 * Dropped: every other control character and escape sequence, among them OSC (titles,
 * hyperlinks, OSC 52 writing the clipboard), DCS/APC/PM/SOS strings, device and window
 * reports (CSI 6n, CSI 21t: the terminal would type its answer into the user's input),
 * private modes (CSI ? ... h) and character-set switches. Piped output keeps the log as
 * it is: the filter is for a terminal only.
 *
 * Streaming: a log arrives in pieces cut anywhere, so the filter keeps its state (inside a
 * sequence, and the kept sequence so far) between pieces.
 */
import { Writable } from 'node:stream';

const ESC = 0x1b;
const BEL = 0x07;
/** Tab, newline, carriage return, backspace: what plain output uses. */
const KEPT_CONTROLS = new Set([0x08, 0x09, 0x0a, 0x0d]);
/** CSI finals kept: SGR, cursor up/down/forward/back, column, erase in line. */
const KEPT_FINALS = new Set([...'mABCDGK'].map((c) => c.charCodeAt(0)));
/** ESC ] (OSC), P (DCS), X (SOS), ^ (PM), _ (APC): strings that run to BEL or ESC \. */
const STRING_STARTS = new Set([...']PX^_'].map((c) => c.charCodeAt(0)));
/** A kept sequence longer than this is not one we keep. */
const MAX_CSI = 64;

type State = 'text' | 'esc' | 'esc-intermediate' | 'csi' | 'csi-drop' | 'string' | 'string-esc';

export class TerminalFilter {
  #state: State = 'text';
  /** The CSI sequence so far (ESC [ included), kept when it ends as one we allow. */
  #csi: number[] = [];

  /** The bytes of `chunk` a terminal may be given. */
  push(chunk: Uint8Array): Buffer {
    const out: number[] = [];
    for (const b of chunk) this.#byte(b, out);
    return Buffer.from(out);
  }

  #byte(b: number, out: number[]): void {
    switch (this.#state) {
      case 'text':
        if (b === ESC) this.#state = 'esc';
        else if (b >= 0x20 ? b !== 0x7f : KEPT_CONTROLS.has(b)) out.push(b);
        return;
      case 'esc':
        if (b === 0x5b) {
          this.#state = 'csi';
          this.#csi = [ESC, b];
        } else if (STRING_STARTS.has(b)) this.#state = 'string';
        // ESC ( 0 and the like (character sets): intermediates, then one final byte.
        else if (b >= 0x20 && b <= 0x2f) this.#state = 'esc-intermediate';
        else if (b !== ESC) this.#state = 'text'; // a two-byte sequence (keypad, reset...): dropped
        return;
      case 'esc-intermediate':
        if (b >= 0x30 && b <= 0x7e) this.#state = 'text';
        else if (b < 0x20 || b > 0x2f) {
          this.#state = 'text';
          this.#byte(b, out);
        }
        return;
      case 'csi':
      case 'csi-drop':
        if (b >= 0x40 && b <= 0x7e) {
          // The final byte: kept only for the allowed finals with numbers as parameters.
          const params = this.#csi.slice(2);
          if (this.#state === 'csi' && KEPT_FINALS.has(b) && params.every((p) => (p >= 0x30 && p <= 0x39) || p === 0x3b || p === 0x3a))
            out.push(...this.#csi, b);
          this.#state = 'text';
        } else if (b >= 0x20 && b <= 0x3f) {
          if (this.#state === 'csi' && this.#csi.length < MAX_CSI) this.#csi.push(b);
          else this.#state = 'csi-drop';
        } else {
          // Not part of a sequence: the sequence so far goes, this byte counts as text.
          this.#state = 'text';
          this.#byte(b, out);
        }
        return;
      case 'string':
        if (b === BEL) this.#state = 'text';
        else if (b === ESC) this.#state = 'string-esc';
        return;
      case 'string-esc':
        // ESC \ ends the string; any other ESC x ends it too and starts a sequence.
        this.#state = b === 0x5c ? 'text' : 'esc';
        if (b !== 0x5c) this.#byte(b, out);
        return;
    }
  }
}

/** A stream that writes to `terminal` what TerminalFilter lets through. */
export function terminalSafe(terminal: NodeJS.WritableStream): Writable {
  const filter = new TerminalFilter();
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      const shown = filter.push(chunk);
      if (shown.length === 0 || terminal.write(shown)) done();
      else terminal.once('drain', () => done());
    },
  });
}
