#!/usr/bin/env node
// Writes oclif.manifest.json: every command's flags, args and help, so that the CLI starts
// without loading every command file. Does what `oclif manifest` does, without pulling the
// whole oclif packaging tool into devDependencies.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { Config } = require('@oclif/core');

async function main() {
  const root = path.resolve(__dirname, '..');
  const target = path.join(root, 'oclif.manifest.json');
  fs.rmSync(target, { force: true }); // a stale manifest would be read instead of the commands
  const config = await Config.load(root);
  const manifest = config.plugins.get(config.pjson.name).manifest;
  if (Object.keys(manifest.commands).length === 0) throw new Error('no commands found in dist/commands: run tsc first');
  fs.writeFileSync(target, `${JSON.stringify(manifest, null, 2)}\n`);
  console.log(`oclif.manifest.json: ${Object.keys(manifest.commands).length} commands`);
}

main().catch((err) => {
  console.error(`oclif manifest: ${err.message}`);
  process.exit(1);
});
