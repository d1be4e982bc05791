/** Container names lxcts refuses with LXC_INVALID_NAME, with what each one is: one table for the validation's unit tests and the public API's. */
export const INVALID_NAMES: Array<[label: string, name: string]> = [
  ['empty', ''],
  ['dot', '.'],
  ['dot-dot', '..'],
  ['a path escaping the lxcpath', '../x'],
  ['a slash', 'a/b'],
  ['a newline', 'a\nb'],
  ['a NUL', 'a\0b'],
  ['an option', '-rf'],
  ['65 bytes', 'x'.repeat(65)],
  ['33 two-byte characters (66 bytes)', 'é'.repeat(33)],
];
