/**
 * Debian's Chromium for the browser tests, driven by playwright-core: the browser comes from
 * the distribution (setup-host.sh installs `chromium`), never from a download.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { type Browser, chromium, type Page } from 'playwright-core';

import { ROOT } from './root';

// playwright-core never downloads a browser; this says so to anything else that might.
process.env.PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD = '1';

/**
 * Chromium executables tried in turn: LXCTS_CHROMIUM alone when it is set (a wrong path is
 * an error, not a fallback), else Debian's `chromium` package (which setup-host.sh
 * installs), then Google Chrome where a machine already has it (Ubuntu has Chromium only as
 * a snap; GitHub's Ubuntu runners have Chrome).
 */
export const CHROMIUM_CANDIDATES = process.env.LXCTS_CHROMIUM ? [process.env.LXCTS_CHROMIUM] : ['/usr/bin/chromium', '/usr/bin/google-chrome'];

/** The first candidate that is an executable file, or null. */
export function findChromium(candidates = CHROMIUM_CANDIDATES): string | null {
  for (const candidate of candidates) {
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // not this one
    }
  }
  return null;
}

/** Screenshots and other output of the browser tests (git-ignored). */
export const BROWSER_OUTPUT = path.join(ROOT, 'test-output', 'browser');

/** Launches headless Chromium, or fails saying how to install it: a missing browser is never a silent skip. */
export async function launchChromium(): Promise<Browser> {
  const executablePath = findChromium();
  if (executablePath === null) {
    throw new Error(
      `no Chromium (tried ${CHROMIUM_CANDIDATES.join(', ')}): run scripts/setup-host.sh as root (it installs Debian's chromium), or set LXCTS_CHROMIUM to a Chromium or Chrome executable`,
    );
  }
  // The tests run as root, and Chromium's sandbox refuses root ("Running as root without
  // --no-sandbox is not supported"): turned off. The pages are our own, on loopback.
  return chromium.launch({ executablePath, headless: true, chromiumSandbox: false });
}

/** Console errors and uncaught exceptions of `page`, with the URL they happened on. */
export function recordErrors(page: Page, into: string[]): void {
  page.on('console', (message) => {
    if (message.type() === 'error') into.push(`${page.url()}: console: ${message.text()} (${message.location().url})`);
  });
  page.on('pageerror', (error) => into.push(`${page.url()}: uncaught: ${error.message}`));
}
