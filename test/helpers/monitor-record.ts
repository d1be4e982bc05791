/** A record as liblxc's monitor writes it (struct lxc_msg, little-endian as on these machines), for the watch() tests. */
import { LXC_MSG_SIZE } from '../../src/lxc/events';

export function monitorRecord(name: string | Buffer, state: number, type = 0): Buffer {
  const r = Buffer.alloc(LXC_MSG_SIZE);
  r.writeInt32LE(type, 0);
  (typeof name === 'string' ? Buffer.from(name) : name).copy(r, 4, 0, 256);
  r.writeInt32LE(state, 260);
  return r;
}
