#!/usr/bin/env node
// The lxcts command. Commands load from dist/commands through oclif.manifest.json (made
// by `npm run build`), so start-up reads no command file it does not run.
require('@oclif/core').execute({ dir: __dirname }).catch(require('@oclif/core').handle);
