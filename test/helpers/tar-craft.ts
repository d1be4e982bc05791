/**
 * Tar streams made byte by byte, as a careful writer would or as a hostile one would: the
 * tests of the parsers (lxcts-files untar, pullTar's checker) need headers no tar library
 * writes.
 */
export interface Raw {
  name: string;
  type?: string;
  size?: number;
  linkname?: string;
  /** Written into the size field as it is (a lie about the data that follows). */
  sizeField?: string;
  badChecksum?: boolean;
  /** Octal permission bits (default 0644). */
  mode?: number;
}

/** A ustar header. */
export function header(h: Raw): Buffer {
  const block = Buffer.alloc(512);
  block.write(h.name, 0, 100);
  block.write(`${(h.mode ?? 0o644).toString(8).padStart(7, '0')}\0`, 100);
  block.write('0000000\0', 108);
  block.write('0000000\0', 116);
  block.write(h.sizeField ?? `${(h.size ?? 0).toString(8).padStart(11, '0')}\0`, 124);
  block.write('00000000000\0', 136);
  block.write(h.type ?? '0', 156);
  block.write(h.linkname ?? '', 157, 100);
  block.write('ustar\0' + '00', 257);
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of block) sum += b;
  block.write(`${(sum + (h.badChecksum ? 1 : 0)).toString(8).padStart(6, '0')}\0 `, 148);
  return block;
}

export const padded = (data: Buffer): Buffer => Buffer.concat([data, Buffer.alloc((512 - (data.length % 512)) % 512)]);

/** A header and its data, padded to a block. */
export const entry = (h: Raw, data = Buffer.alloc(0)): Buffer => Buffer.concat([header({ size: data.length, ...h }), padded(data)]);

/** A pax extended header ('x') with these records. */
export function pax(records: Record<string, string>): Buffer {
  const body = Buffer.from(
    Object.entries(records)
      .map(([k, v]) => {
        const rest = ` ${k}=${v}\n`;
        let n = rest.length + 1;
        while (`${n}${rest}`.length !== n) n++;
        return `${n}${rest}`;
      })
      .join(''),
  );
  return entry({ name: 'PaxHeader', type: 'x' }, body);
}

/** A pax extended header ('x') with this body as it is (records a careful writer would not write). */
export const rawPax = (body: string): Buffer => entry({ name: 'PaxHeader', type: 'x' }, Buffer.from(body));

/** The end of an archive: two zero blocks. */
export const END = Buffer.alloc(1024);
