// The node agent's socket for ambit-cni: one JSON request line in, one reply line out, per
// connection. Requests are validated here; a bad one is answered `refused` with the field named.

import { lstatSync, unlinkSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { CniAgentConfigError } from '@ambit/core/errors';
import { FieldReader, join } from '@ambit/core/mesh/field-reader';
import {
  CNI_WIRE_MAX_BYTES,
  CNI_WIRE_VERSION,
  type CniWireReply,
  type CniWireRequest,
} from '../cni-wire.ts';

const reader = new FieldReader((m) => new CniAgentConfigError(`CNI request: ${m}`));

export function decodeCniWireRequest(line: string): CniWireRequest {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch (err) {
    throw new CniAgentConfigError('CNI request is not valid JSON', { cause: err });
  }
  const o = reader.object(v, '');
  if (o.v !== CNI_WIRE_VERSION) reader.fail('v', `unsupported version ${String(o.v)}`);
  const pod = reader.object(o.pod, 'pod');
  const netns = reader.optionalString(o.netns, 'netns');
  if (netns !== undefined && !netns.startsWith('/'))
    reader.fail('netns', 'must be an absolute path');
  const uid = reader.optionalString(pod.uid, 'pod.uid');
  return {
    v: CNI_WIRE_VERSION,
    command: reader.oneOf(o.command, 'command', ['ADD', 'DEL', 'CHECK'] as const),
    containerId: reader.string(o.containerId, 'containerId'),
    ...(netns !== undefined ? { netns } : {}),
    ifname: reader.string(o.ifname, 'ifname'),
    pod: {
      name: reader.name(pod.name, 'pod.name'),
      namespace: reader.name(pod.namespace, 'pod.namespace'),
      ...(uid !== undefined ? { uid } : {}),
    },
    ips: reader.array(o.ips, 'ips').map((ip, i) => reader.ip(ip, join('ips', i))),
  };
}

export interface CniServerOptions {
  socketPath: string;
  handle(req: CniWireRequest): Promise<CniWireReply>;
}

export class CniServer {
  readonly #opts: CniServerOptions;
  #server: Server | undefined;
  readonly #sockets = new Set<Socket>();

  constructor(opts: CniServerOptions) {
    this.#opts = opts;
  }

  async listen(): Promise<void> {
    try {
      if (lstatSync(this.#opts.socketPath).isSocket()) unlinkSync(this.#opts.socketPath);
    } catch {
      // no stale socket
    }
    const server = createServer((s) => this.#accept(s));
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#opts.socketPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    const server = this.#server;
    this.#server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  #accept(socket: Socket): void {
    this.#sockets.add(socket);
    socket.on('close', () => this.#sockets.delete(socket));
    socket.on('error', () => undefined); // the plugin gave up (its timeout); nothing to tell
    socket.setEncoding('utf8');
    let buf = '';
    let done = false;
    const answer = (r: CniWireReply): void => {
      if (!socket.destroyed) socket.end(JSON.stringify(r) + '\n');
    };
    socket.on('data', (chunk: string) => {
      if (done) return;
      buf += chunk;
      const nl = buf.indexOf('\n');
      if (nl === -1) {
        if (buf.length > CNI_WIRE_MAX_BYTES) {
          done = true;
          answer({
            v: CNI_WIRE_VERSION,
            result: 'refused',
            reason: 'CNI request too long',
            tryAgain: false,
          });
        }
        return;
      }
      done = true;
      let req: CniWireRequest;
      try {
        req = decodeCniWireRequest(buf.slice(0, nl));
      } catch (err) {
        answer({
          v: CNI_WIRE_VERSION,
          result: 'refused',
          reason: (err as Error).message,
          tryAgain: false,
        });
        return;
      }
      void this.#opts.handle(req).then(answer);
    });
  }
}
