/**
 * @tier unit
 * Masking secret values in build output (src/ci/secret-mask.ts): the value, its URL
 * encoding and its base64 (both alphabets, every alignment inside a longer stream) become
 * `***`, also when output splits a value across writes, at every split point.
 */
import { MASK, maskPatterns, SecretMasker } from '../../src/ci/secret-mask';

const SECRET = 's3cr3t/value+with=odd&chars';

/** Everything a masker lets through for `pieces` written one after the other. */
function stream(masker: SecretMasker, pieces: Array<string | Buffer>): string {
  return Buffer.concat([...pieces.map((p) => masker.write(p)), masker.end()]).toString();
}

test('the value, its URL encoding and its base64 in both alphabets are masked', () => {
  const masker = new SecretMasker([SECRET]);
  const raw = Buffer.from(SECRET);
  for (const form of [SECRET, encodeURIComponent(SECRET), raw.toString('base64'), raw.toString('base64url')]) {
    expect(masker.mask(`before ${form} after`)).toBe(`before ${MASK} after`);
  }
});

test('the value inside a longer base64 stream is masked at each of the three alignments', () => {
  const masker = new SecretMasker([SECRET]);
  for (const prefix of ['', 'a', 'ab', 'abc', 'abcd']) {
    for (const suffix of ['', '\n', 'xy']) {
      for (const alphabet of ['base64', 'base64url'] as const) {
        const encoded = Buffer.from(`${prefix}${SECRET}${suffix}`).toString(alphabet);
        const shown = masker.mask(encoded);
        expect(shown).toContain(MASK);
        // What is left of the stream is the few characters mixing the value's bits with its neighbours'.
        expect(shown.replace(MASK, '').length).toBeLessThanOrEqual(Math.ceil(((prefix.length + suffix.length) * 8) / 6) + 4);
      }
    }
  }
});

test('every split of a value across two writes is masked, and nothing else is lost or added', () => {
  const text = `start ${SECRET} middle ${Buffer.from(SECRET).toString('base64')} end\n`;
  const expected = `start ${MASK} middle ${MASK} end\n`;
  for (let split = 0; split <= text.length; split++) {
    expect(stream(new SecretMasker([SECRET]), [text.slice(0, split), text.slice(split)])).toBe(expected);
  }
  // One byte at a time too.
  expect(
    stream(
      new SecretMasker([SECRET]),
      [...Buffer.from(text)].map((b) => Buffer.from([b])),
    ),
  ).toBe(expected);
});

test('at most the longest form minus one byte is held back between writes', () => {
  const masker = new SecretMasker([SECRET]);
  const longest = Math.max(...maskPatterns(SECRET).map((p) => p.length));
  // A start of the value at the end of a write is held back, and only that.
  const shown = masker.write(`line 1\n${SECRET.slice(0, 5)}`).toString();
  expect(shown).toBe('line 1\n');
  expect(masker.write('not it after all\n').toString()).toBe(`${SECRET.slice(0, 5)}not it after all\n`);
  // Output that starts no form is not held back at all.
  expect(masker.write('plain output\n').toString()).toBe('plain output\n');
  const long = 'z'.repeat(5000);
  expect(masker.write(long).length).toBeGreaterThanOrEqual(long.length - (longest - 1));
  expect(masker.end().toString().length).toBeLessThan(longest);
});

test('a prefix of a value that never completes is flushed at the end as it was', () => {
  const masker = new SecretMasker([SECRET]);
  expect(stream(masker, ['tail: ', SECRET.slice(0, -1)])).toBe(`tail: ${SECRET.slice(0, -1)}`);
});

test('several values, overlapping matches and binary output', () => {
  const masker = new SecretMasker(['AAAAkey', 'keyBBBB']);
  expect(masker.mask('x AAAAkeyBBBB y')).toBe(`x ${MASK} y`);
  const binary = Buffer.from([0xff, 0x00, ...Buffer.from('keyBBBB'), 0xfe]);
  expect(Buffer.concat([masker.write(binary), masker.end()])).toEqual(Buffer.from([0xff, 0x00, ...Buffer.from(MASK), 0xfe]));
});

test('no values: nothing changes and nothing is held back', () => {
  const masker = new SecretMasker([]);
  expect(masker.empty).toBe(true);
  expect(masker.write('abc').toString()).toBe('abc');
  expect(masker.mask('abc')).toBe('abc');
});

test('encoded forms shorter than 4 characters are left alone: a one-letter value masks itself and its padded base64', () => {
  const masker = new SecretMasker(['Q']);
  expect(masker.mask('QUJD Q')).toBe(`${MASK}UJD ${MASK}`);
  expect(maskPatterns('Q').map(String)).toEqual(['Q', 'UQ==']);
});
