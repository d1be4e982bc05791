/**
 * @tier unit
 * The --github-* flags as `ci up` passes them on to its server and patch-parser worker
 * (github-flags.ts): the ones given, files made absolute (the children read them), and
 * nothing without credentials.
 */
import * as path from 'node:path';

import { githubArgs, hasGitHubCredentials } from '../../src/cli/github-flags';

const API = 'https://ghe.example/api/v3';

test('no credentials: no flags at all, whatever the API URL', () => {
  expect(githubArgs(undefined)).toEqual([]);
  expect(githubArgs({ 'github-api-url': API })).toEqual([]);
  expect(hasGitHubCredentials({ 'github-api-url': API })).toBe(false);
});

test('a token file, or an App, is passed on with the API URL; relative files become absolute', () => {
  expect(githubArgs({ 'github-api-url': API, 'github-token-file': 'secrets/token' })).toEqual([
    '--github-api-url',
    API,
    '--github-token-file',
    path.resolve('secrets/token'),
  ]);
  expect(githubArgs({ 'github-api-url': API, 'github-app-id': 7, 'github-app-key-file': '/etc/lxcts/app.pem', 'github-installation-id': 42 })).toEqual([
    '--github-api-url',
    API,
    '--github-app-id',
    '7',
    '--github-app-key-file',
    '/etc/lxcts/app.pem',
    '--github-installation-id',
    '42',
  ]);
});
