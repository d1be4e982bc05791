/**
 * A bridge of a test's own, with a DHCP server (dnsmasq) and no route anywhere:
 * containers on it reach this machine's bridge address and nothing else, as tests must.
 * Addresses come from 198.18.0.0/15, which is reserved for network tests.
 */
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export class TestBridge {
  readonly name: string;
  readonly subnet: string;
  readonly hostAddress: string;
  #dhcp: ChildProcess | undefined;
  readonly #dir: string;

  constructor(label: string) {
    const id = (process.pid * 7 + label.length * 31) % 250;
    this.name = `lxt${label.slice(0, 4)}${process.pid % 100000}`.slice(0, 15);
    this.subnet = `198.18.${id}`;
    this.hostAddress = `${this.subnet}.1`;
    this.#dir = fs.mkdtempSync(path.join(os.tmpdir(), `lxcts-bridge-${label}-`));
  }

  up(): void {
    execFileSync('ip', ['link', 'add', this.name, 'type', 'bridge']);
    execFileSync('ip', ['addr', 'add', `${this.hostAddress}/24`, 'dev', this.name]);
    execFileSync('ip', ['link', 'set', this.name, 'up']);
    this.#dhcp = spawn(
      'dnsmasq',
      [
        '--keep-in-foreground',
        '--conf-file=/dev/null',
        '--port=0',
        '--user=root',
        '--bind-interfaces',
        `--interface=${this.name}`,
        '--except-interface=lo',
        `--listen-address=${this.hostAddress}`,
        `--dhcp-range=${this.subnet}.50,${this.subnet}.99`,
        `--dhcp-leasefile=${this.#dir}/leases`,
        `--pid-file=${this.#dir}/dnsmasq.pid`,
      ],
      { stdio: 'ignore' },
    );
  }

  async down(): Promise<void> {
    const dhcp = this.#dhcp;
    if (dhcp && dhcp.exitCode === null) {
      // dnsmasq must be gone before its directory is removed, or it writes into it again.
      const exited = new Promise((resolve) => dhcp.once('exit', resolve));
      dhcp.kill('SIGKILL');
      await exited;
    }
    try {
      execFileSync('ip', ['link', 'delete', this.name], { stdio: 'ignore' });
    } catch {
      // already gone
    }
    fs.rmSync(this.#dir, { recursive: true, force: true });
  }

  /** Whether `ip` is an address this bridge's DHCP server hands out. */
  leases(ip: string): boolean {
    const [a, b, c, d] = ip.split('.');
    return `${a}.${b}.${c}` === this.subnet && Number(d) >= 50 && Number(d) <= 99;
  }
}
