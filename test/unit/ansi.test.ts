/**
 * @tier unit
 * Build output's ANSI escapes as HTML (src/server/ansi.ts): colours become spans, every
 * other sequence and control character goes, text is always escaped, and a log cut
 * anywhere (mid-sequence too) renders as the whole would.
 */
import { AnsiToHtml, ansiToHtml } from '../../src/server/ansi';

test('the 16 colours, bright colours and styles become classes; reset ends them', () => {
  expect(ansiToHtml('\x1b[31mred\x1b[0m plain')).toBe('<span class="a-fg1">red</span> plain');
  expect(ansiToHtml('\x1b[1;92;44mok\x1b[22mthin\x1b[39;49m')).toBe('<span class="a-fg10 a-bg4 a-bold">ok</span><span class="a-fg10 a-bg4">thin</span>');
  expect(ansiToHtml('\x1b[3;4;9mx\x1b[m')).toBe('<span class="a-italic a-underline a-strike">x</span>');
});

test('256-colour and true-colour codes become inline colours built from the numbers', () => {
  expect(ansiToHtml('\x1b[38;5;196mhot')).toBe('<span style="color:#ff0000">hot</span>');
  expect(ansiToHtml('\x1b[48;5;244mgrey')).toBe('<span style="background-color:#808080">grey</span>');
  expect(ansiToHtml('\x1b[38;2;1;2;3mrgb')).toBe('<span style="color:#010203">rgb</span>');
  // Out of range: ignored, nothing of it reaches the page.
  expect(ansiToHtml('\x1b[38;2;999;0;0mx')).toBe('x');
});

test('text is escaped: output cannot make markup', () => {
  expect(ansiToHtml('<script>alert("x")</script> & \'')).toBe('&#60;script&#62;alert(&#34;x&#34;)&#60;/script&#62; &#38; &#39;');
  expect(ansiToHtml('\x1b[31m<b>')).toBe('<span class="a-fg1">&#60;b&#62;</span>');
});

test('other sequences (cursor, erase, titles, links) and control characters are dropped', () => {
  expect(ansiToHtml('a\x1b[2K\x1b[1Gb\x1b]0;title\x07c\x1b]8;;http://x\x1b\\d\x1b(Be')).toBe('abcd(Be');
  expect(ansiToHtml('1\r\n2\x00\x07\x08\t3\n')).toBe('1\n2\t3\n');
});

test('a log cut anywhere renders as the whole does', () => {
  const whole = 'start \x1b[1;38;5;33mblue bold\x1b[0m \x1b]0;t\x07mid \x1b[41mred bg\x1b[49m end\n';
  const expected = ansiToHtml(whole).replace(/<[^>]+>/g, '');
  for (let cut = 0; cut <= whole.length; cut++) {
    const converter = new AnsiToHtml();
    const html = converter.push(whole.slice(0, cut)) + converter.push(whole.slice(cut));
    // Same text, same styles around each character.
    expect(html.replace(/<[^>]+>/g, '')).toBe(expected);
    expect(html).toContain('<span class="a-bg1">');
  }
  const styled = new AnsiToHtml();
  expect(styled.push('\x1b[3')).toBe('');
  expect(styled.push('2mgreen')).toBe('<span class="a-fg2">green</span>');
  // The style carries over to the next piece.
  expect(styled.push(' still')).toBe('<span class="a-fg2"> still</span>');
});
