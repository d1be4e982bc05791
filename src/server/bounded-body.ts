/**
 * A response body read up to a bound: the CLI's clients of the CI server (log-follow.ts,
 * control-client.ts) trust the server with nothing, its size included. The rest of a body
 * past the bound is never read (the stream is cancelled).
 */

/** The body of `response`; `tooLarge()` is thrown once it passes `max` bytes. */
export async function boundedBody(response: Response, max: number, tooLarge: () => Error): Promise<Buffer> {
  if (Number(response.headers.get('Content-Length') ?? 0) > max) {
    await response.body?.cancel();
    throw tooLarge();
  }
  const parts: Uint8Array[] = [];
  let size = 0;
  // Leaving the loop early cancels the stream.
  for await (const part of response.body ?? []) {
    size += part.length;
    if (size > max) throw tooLarge();
    parts.push(part);
  }
  return Buffer.concat(parts);
}
