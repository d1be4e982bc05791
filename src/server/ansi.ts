/**
 * Build output with ANSI escapes → HTML: SGR colours and styles become `<span>`s with
 * classes (the 16 colours, bold, dim, italic, underline, strike) or, for 256-colour and
 * true-colour codes, an inline colour computed from the numbers; every other escape
 * sequence (cursor moves, titles, links) and control character is dropped, and all text
 * is HTML-escaped. Build output is a stranger's: nothing in it becomes markup.
 *
 * Streaming: a log arrives in pieces cut anywhere (mid-sequence too), so the converter
 * keeps the current style and an unfinished sequence between `push` calls. (A dozen lines
 * of rules; the libraries that do this either emit HTML we would have to escape again or
 * carry no state between pieces.)
 */
import { escapeHtml } from './listing';

interface Style {
  fg: string | null;
  bg: string | null;
  bold: boolean;
  dim: boolean;
  italic: boolean;
  underline: boolean;
  strike: boolean;
}

const PLAIN: Readonly<Style> = { fg: null, bg: null, bold: false, dim: false, italic: false, underline: false, strike: false };

/** An unfinished escape longer than this is not one: dropped. */
const MAX_PENDING = 256;

// CSI: ESC [ parameters intermediates final; OSC: ESC ] ... BEL or ESC \; any other ESC x.
// eslint-disable-next-line no-control-regex
const SEQUENCE = /\x1b(?:\[([0-?]*)[ -/]*([@-~])|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\^_])/y;
/** The start of a sequence, cut before its end. */
// eslint-disable-next-line no-control-regex
const UNFINISHED = /^\x1b(?:\[[0-?]*[ -/]*|\][^\x07\x1b]*\x1b?)?$/;
/** Every control character but tab and newline (a carriage return too: progress bars print their lines one after another). */
// eslint-disable-next-line no-control-regex
const DROPPED_CONTROLS = /[\x00-\x08\x0b-\x1f\x7f]/g;

/** The xterm 256-colour palette's colours 16-255 as #rrggbb. */
function color256(n: number): string | null {
  if (n < 16) return `c${n}`;
  if (n < 232) {
    const level = (v: number) => (v === 0 ? 0 : 55 + v * 40);
    const i = n - 16;
    return rgb(level(Math.floor(i / 36)), level(Math.floor(i / 6) % 6), level(i % 6));
  }
  if (n < 256) {
    const v = 8 + (n - 232) * 10;
    return rgb(v, v, v);
  }
  return null;
}

function rgb(r: number, g: number, b: number): string | null {
  if (![r, g, b].every((v) => Number.isInteger(v) && v >= 0 && v <= 255)) return null;
  return `#${[r, g, b].map((v) => v.toString(16).padStart(2, '0')).join('')}`;
}

/** Applies one SGR parameter list to `style`. */
function applySgr(style: Style, params: string): void {
  const codes = params === '' ? [0] : params.split(/[;:]/).map((p) => (p === '' ? 0 : Number(p)));
  for (let i = 0; i < codes.length; i++) {
    const code = codes[i] ?? 0;
    if (code === 0) Object.assign(style, PLAIN);
    else if (code === 1) style.bold = true;
    else if (code === 2) style.dim = true;
    else if (code === 3) style.italic = true;
    else if (code === 4) style.underline = true;
    else if (code === 9) style.strike = true;
    else if (code === 22) style.bold = style.dim = false;
    else if (code === 23) style.italic = false;
    else if (code === 24) style.underline = false;
    else if (code === 29) style.strike = false;
    else if (code >= 30 && code <= 37) style.fg = `c${code - 30}`;
    else if (code >= 90 && code <= 97) style.fg = `c${code - 90 + 8}`;
    else if (code >= 40 && code <= 47) style.bg = `c${code - 40}`;
    else if (code >= 100 && code <= 107) style.bg = `c${code - 100 + 8}`;
    else if (code === 39) style.fg = null;
    else if (code === 49) style.bg = null;
    else if (code === 38 || code === 48) {
      let color: string | null = null;
      if (codes[i + 1] === 5) {
        color = color256(codes[i + 2] ?? -1);
        i += 2;
      } else if (codes[i + 1] === 2) {
        color = rgb(codes[i + 2] ?? -1, codes[i + 3] ?? -1, codes[i + 4] ?? -1);
        i += 4;
      }
      if (color !== null) style[code === 38 ? 'fg' : 'bg'] = color;
    }
  }
}

/** The opening tag for `style`, or '' when it is plain. */
function openTag(style: Style): string {
  const classes: string[] = [];
  const css: string[] = [];
  for (const [which, color] of [
    ['fg', style.fg],
    ['bg', style.bg],
  ] as const) {
    if (color === null) continue;
    // Both kinds are built from numbers here, never copied from the output.
    if (color.startsWith('c')) classes.push(`a-${which}${color.slice(1)}`);
    else css.push(`${which === 'fg' ? 'color' : 'background-color'}:${color}`);
  }
  for (const flag of ['bold', 'dim', 'italic', 'underline', 'strike'] as const) if (style[flag]) classes.push(`a-${flag}`);
  if (classes.length === 0 && css.length === 0) return '';
  return `<span${classes.length ? ` class="${classes.join(' ')}"` : ''}${css.length ? ` style="${css.join(';')}"` : ''}>`;
}

export class AnsiToHtml {
  readonly #style: Style = { ...PLAIN };
  #pending = '';

  /** The HTML of the next piece of output (whole spans: each piece stands alone in the page). */
  push(text: string): string {
    const input = this.#pending + text;
    this.#pending = '';
    let html = '';
    let at = 0;
    let tag = openTag(this.#style);
    const emit = (plain: string) => {
      const shown = plain.replace(DROPPED_CONTROLS, '');
      if (shown !== '') html += tag + escapeHtml(shown) + (tag ? '</span>' : '');
    };
    while (at < input.length) {
      const esc = input.indexOf('\x1b', at);
      if (esc < 0) {
        emit(input.slice(at));
        break;
      }
      emit(input.slice(at, esc));
      SEQUENCE.lastIndex = esc;
      const match = SEQUENCE.exec(input);
      if (!match) {
        // Cut between pieces: the rest waits for the next one (within reason).
        const rest = input.slice(esc);
        if (rest.length < MAX_PENDING && UNFINISHED.test(rest)) {
          this.#pending = rest;
          break;
        }
        // Not a sequence: the lone ESC goes, the text after it stays.
        at = esc + 1;
        continue;
      }
      if (match[2] === 'm') {
        applySgr(this.#style, match[1] ?? '');
        tag = openTag(this.#style);
      }
      at = SEQUENCE.lastIndex;
    }
    return html;
  }
}

/** A whole text at once. */
export function ansiToHtml(text: string): string {
  return new AnsiToHtml().push(text);
}

/** The stylesheet rules for the classes above (the 16 colours: xterm's, readable on white). */
export const ANSI_CSS = [
  ...['#000', '#c33', '#282', '#a70', '#35c', '#a3a', '#189', '#bbb', '#666', '#e44', '#3a3', '#c90', '#57e', '#c5c', '#2ab', '#fff'].flatMap((color, i) => [
    `.a-fg${i}{color:${color}}`,
    `.a-bg${i}{background-color:${color}}`,
  ]),
  '.a-bold{font-weight:bold}',
  '.a-dim{opacity:.7}',
  '.a-italic{font-style:italic}',
  '.a-underline{text-decoration:underline}',
  '.a-strike{text-decoration:line-through}',
].join('');
