/**
 * The addon as built holds to src/lxc/native.ts, the one declaration the rest of lxcts
 * calls it through: the same exported names, and the same methods on NativeContainer's
 * and NativeProcess's prototypes. The compiler cannot see across that line, so a method
 * renamed, dropped or added on one side only would otherwise surface as "is not a function"
 * in whichever test happens to call it. Integration tier: it loads the real addon, the
 * compiled truth rather than a reading of the C++ source (the error codes, which exist
 * only as source text, are checked in test/unit/error-codes.test.ts).
 */
import * as path from 'node:path';

import { native } from '../src/lxc/native';
import { ROOT } from './helpers/root';
import { interfaceMembers } from './helpers/ts-declarations';

const declaration = path.join(ROOT, 'src', 'lxc', 'native.ts');
const declared = (name: string) => interfaceMembers(declaration, name).sort();
const prototypeMethods = (cls: unknown) =>
  Object.getOwnPropertyNames((cls as { prototype: object }).prototype)
    .filter((name) => name !== 'constructor')
    .sort();

test('the addon exports exactly what NativeBinding declares, each a function', () => {
  const binding = native() as unknown as Record<string, unknown>;
  expect(Object.keys(binding).sort()).toEqual(declared('NativeBinding'));
  for (const [name, value] of Object.entries(binding)) expect({ name, type: typeof value }).toEqual({ name, type: 'function' });
});

test("NativeContainer's prototype has exactly the methods its interface declares", () => {
  expect(prototypeMethods(native().NativeContainer)).toEqual(declared('NativeContainer'));
});

test("NativeProcess's prototype has exactly the methods its interface declares", () => {
  expect(prototypeMethods(native().NativeProcess)).toEqual(declared('NativeProcess'));
});
