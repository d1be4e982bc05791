/**
 * `lxcts ci rerun|cancel --server URL` (control-client.ts) against a hostile server on a
 * loopback port: the server's answer (its message, or its reason for refusing) is printed
 * to the user's terminal, so escape sequences in it (OSC 52 writes the clipboard on
 * terminals that allow it, OSC 0 sets the title, CSI clears the screen) must not get there,
 * nor an answer of many megabytes into memory.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

import { ControlError, requestControl } from '../src/server/control-client';

const HOSTILE = 'ok\x1b]52;c;cm0gLXJmIH4K\x07\x1b]0;pwned\x07\x1b[2J\u202egnp.exe\r\nforged line';
// eslint-disable-next-line no-control-regex
const CONTROLS = /[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/;

let answer: (res: http.ServerResponse) => void = (res) => res.end();
let url = '';
const server = http.createServer((_req, res) => answer(res));

beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const call = () => requestControl({ server: url, token: 't'.repeat(20), action: 'cancel', build: 1 });

async function refusal(): Promise<ControlError> {
  const err = await call().then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ControlError);
  return err as ControlError;
}

test("an answer's message reaches the terminal without control characters", async () => {
  answer = (res) => res.writeHead(202, { 'Content-Type': 'application/json' }).end(JSON.stringify({ action: 'cancel', build: 1, message: HOSTILE }));
  const { message } = await call();
  expect(message).toMatch(/^ok/);
  expect(message).not.toMatch(CONTROLS);
});

test("a refusal's reason reaches the terminal without control characters", async () => {
  answer = (res) => res.writeHead(409, { 'Content-Type': 'application/json' }).end(JSON.stringify({ error: HOSTILE }));
  expect((await refusal()).message).not.toMatch(CONTROLS);
  answer = (res) => res.writeHead(500).end(HOSTILE);
  expect((await refusal()).message).not.toMatch(CONTROLS);
});

test('an answer of many megabytes is refused, not read into memory', async () => {
  answer = (res) => {
    res.writeHead(202, { 'Content-Type': 'application/json' });
    const piece = Buffer.alloc(1024 * 1024, 0x20);
    let left = 64;
    const more = () => {
      while (left > 0 && !res.destroyed) {
        left -= 1;
        if (!res.write(piece)) return void res.once('drain', more);
      }
      res.end(JSON.stringify({ action: 'cancel', build: 1, message: 'fine' }));
    };
    more();
  };
  expect((await refusal()).code).toBe('SERVER_REFUSED');
});
