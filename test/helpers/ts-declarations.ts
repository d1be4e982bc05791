/**
 * Reads declarations out of TypeScript source with the compiler's own parser, for tests
 * that hold a declaration against what it declares (the addon's shape in src/lxc/native.ts,
 * the error codes in src/lxc/errors.ts). Parsing only: no type checking, no addon.
 */
import * as fs from 'node:fs';

import * as ts from 'typescript';

function parse(file: string): ts.SourceFile {
  return ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
}

function memberName(name: ts.PropertyName | undefined): string {
  if (name === undefined || !(ts.isIdentifier(name) || ts.isStringLiteral(name))) throw new Error(`unexpected member name: ${name?.getText()}`);
  return name.text;
}

/** The member names (properties and methods) of `export interface <name>` in `file`. */
export function interfaceMembers(file: string, name: string): string[] {
  const found = parse(file).statements.find((s): s is ts.InterfaceDeclaration => ts.isInterfaceDeclaration(s) && s.name.text === name);
  if (found === undefined) throw new Error(`no interface ${name} in ${file}`);
  return found.members.map((m) => memberName(m.name));
}

/** The string literals of `type <name> = 'a' | 'b' | ...` in `file`. */
export function unionLiterals(file: string, name: string): string[] {
  const found = parse(file).statements.find((s): s is ts.TypeAliasDeclaration => ts.isTypeAliasDeclaration(s) && s.name.text === name);
  if (found === undefined || !ts.isUnionTypeNode(found.type)) throw new Error(`no union type ${name} in ${file}`);
  return found.type.types.map((t) => {
    if (!ts.isLiteralTypeNode(t) || !ts.isStringLiteral(t.literal)) throw new Error(`${name} has a member that is not a string literal: ${t.getText()}`);
    return t.literal.text;
  });
}
