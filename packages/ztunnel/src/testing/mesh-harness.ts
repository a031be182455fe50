// Test harness for the in-process integration tests: a temporary directory with a local config
// file and a local CA, ztunnels started in this process with every listener on port 0 except the
// per-workload ones, small apps on workload IPs, and a SOCKS5 client. Each harness takes a random
// 127.x.y.0/24 block so parallel test files never share an address.

import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalCaIssuer } from '@ambit/core/ca-service/local-ca-issuer';
import { loadConfig, type ZtunnelConfig } from '../config.ts';
import { socks5Connect } from '../dev/socks5-client.ts';
import { LineSink } from '../telemetry/test-fixtures.ts';
import { Ztunnel, type ZtunnelOptions } from '../ztunnel.ts';

export interface StartedZtunnel {
  z: Ztunnel;
  logs: LineSink;
}

export class MeshHarness {
  readonly dir: string;
  readonly prefix: string;
  readonly configPath: string;
  readonly hbonePort: number;
  readonly plaintextPort: number;
  readonly #ztunnels: Ztunnel[] = [];
  readonly #servers: Server[] = [];
  readonly #sockets = new Set<Socket>();

  private constructor(dir: string) {
    this.dir = dir;
    this.prefix = `127.${100 + Math.floor(Math.random() * 150)}.${Math.floor(Math.random() * 250)}`;
    this.configPath = join(dir, 'mesh.yaml');
    // Fixed per harness, like 15008/15006 in production; the random address block avoids clashes.
    this.hbonePort = 15008;
    this.plaintextPort = 15006;
  }

  static async create(): Promise<MeshHarness> {
    const h = new MeshHarness(await mkdtemp(join(tmpdir(), 'ambit-ztunnel-')));
    await createLocalCaIssuer({ trustDomain: 'cluster.local', dir: join(h.dir, 'ca') });
    return h;
  }

  /** `<prefix>.<n>`: a workload address in this harness's block. */
  ip(n: number): string {
    return `${this.prefix}.${n}`;
  }

  /** Writes the config file (atomically); `{{P}}` stands for the address prefix. */
  async writeConfig(yaml: string): Promise<void> {
    const tmp = `${this.configPath}.tmp`;
    await writeFile(tmp, yaml.replaceAll('{{P}}', this.prefix));
    await rename(tmp, this.configPath);
  }

  config(node: string, extra: string[] = []): ZtunnelConfig {
    const c = loadConfig(
      [
        '--config-file',
        this.configPath,
        '--node-name',
        node,
        '--ca-dir',
        join(this.dir, 'ca'),
        '--admin-addr',
        '127.0.0.1:0',
        '--metrics-addr',
        '127.0.0.1:0',
        '--readiness-addr',
        '127.0.0.1:0',
        '--socks5-addr',
        '127.0.0.1:0',
        '--hbone-port',
        String(this.hbonePort),
        '--drain-deadline',
        '2s',
        ...extra,
      ],
      {},
      this.dir,
    );
    if (c === 'help') throw new Error('unexpected help');
    return c;
  }

  async ztunnel(node: string, opts: Partial<ZtunnelOptions> = {}): Promise<StartedZtunnel> {
    const logs = new LineSink();
    const z = await Ztunnel.start({
      config: this.config(node),
      inboundPlaintextPort: this.plaintextPort,
      logOut: logs,
      configPollIntervalMs: 0,
      ...opts,
    });
    this.#ztunnels.push(z);
    return { z, logs };
  }

  /**
   * An app on `ip:port` that greets each connection with `name\n` and then echoes what it gets
   * (half-close aware: it ends after the client does).
   */
  async app(ip: string, port: number, name: string): Promise<Server> {
    const server = createServer({ allowHalfOpen: true }, (s) => {
      this.#sockets.add(s);
      s.once('close', () => this.#sockets.delete(s));
      s.on('error', () => {});
      s.write(`${name}\n`);
      s.pipe(s);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, ip, () => resolve());
    });
    this.#servers.push(server);
    return server;
  }

  /** A SOCKS5 connection through `z` from the workload at `fromIp`. */
  async socks(z: Ztunnel, fromIp: string, host: string, port: number): Promise<Socket> {
    const proxy = z.addresses.socks5;
    if (!proxy) throw new Error('explicit mode is off');
    const s = await socks5Connect({ proxy, localAddress: fromIp, target: { host, port } });
    this.#sockets.add(s);
    s.once('close', () => this.#sockets.delete(s));
    return s;
  }

  async metrics(z: Ztunnel): Promise<string> {
    const a = z.addresses.metrics;
    const res = await fetch(`http://${a.host}:${a.port}/metrics`);
    return res.text();
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await Promise.allSettled(this.#ztunnels.map((z) => z.shutdown(0)));
    await Promise.allSettled(
      this.#servers.map(
        (s) =>
          new Promise<void>((resolve) => {
            s.close(() => resolve());
          }),
      ),
    );
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** Reads one line (the app's greeting). */
export function readLine(s: Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const onData = (c: Buffer): void => {
      buf += c.toString('utf8');
      const i = buf.indexOf('\n');
      if (i < 0) return;
      s.off('data', onData);
      s.off('end', onEnd);
      s.off('error', reject);
      s.pause();
      const rest = buf.slice(i + 1);
      if (rest) s.unshift(Buffer.from(rest));
      resolve(buf.slice(0, i));
    };
    const onEnd = (): void =>
      reject(new Error(`connection ended before a line (got ${JSON.stringify(buf)})`));
    s.on('data', onData);
    s.once('end', onEnd);
    s.once('error', reject);
    s.resume();
  });
}

/** Writes `msg` and reads back exactly as many bytes (the echo). */
export function echo(s: Socket, msg: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const want = Buffer.byteLength(msg);
    const onData = (c: Buffer): void => {
      buf += c.toString('utf8');
      if (Buffer.byteLength(buf) < want) return;
      s.off('data', onData);
      s.off('end', onEnd);
      s.off('error', reject);
      s.pause();
      resolve(buf);
    };
    const onEnd = (): void => reject(new Error('connection ended during echo'));
    s.on('data', onData);
    s.once('end', onEnd);
    s.once('error', reject);
    s.resume();
    s.write(msg);
  });
}

/** Resolves when `s` closes (by FIN, RST or error); with whether it errored. */
export function closed(s: Socket): Promise<{ error: boolean }> {
  return new Promise((resolve) => {
    if (s.destroyed) return resolve({ error: s.errored !== null });
    s.on('error', () => {});
    s.once('close', (hadError) => resolve({ error: hadError }));
    s.resume();
  });
}
