import { createConnection } from 'node:net';
import {
  CNI_WIRE_MAX_BYTES,
  decodeCniWireReply,
  type CniWireReply,
  type CniWireRequest,
} from '../cni-wire.ts';

export type AgentCallResult =
  | { ok: true; reply: CniWireReply }
  | { ok: false; reason: 'unreachable' | 'timeout' | 'bad-reply'; message: string };

/** Sends one request to the node agent and waits (at most timeoutMs) for its one-line answer. */
export function callAgent(
  socketPath: string,
  req: CniWireRequest,
  timeoutMs: number,
): Promise<AgentCallResult> {
  return new Promise((resolve) => {
    let settled = false;
    let buf = '';
    const socket = createConnection(socketPath);
    const finish = (r: AgentCallResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(r);
    };
    const timer = setTimeout(
      () =>
        finish({
          ok: false,
          reason: 'timeout',
          message: `the ambit node agent did not answer within ${timeoutMs} ms (${socketPath})`,
        }),
      timeoutMs,
    );
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(JSON.stringify(req) + '\n'));
    socket.on('data', (chunk: string) => {
      buf += chunk;
      const nl = buf.indexOf('\n');
      if (nl === -1) {
        if (buf.length > CNI_WIRE_MAX_BYTES) {
          finish({ ok: false, reason: 'bad-reply', message: 'the agent reply is too long' });
        }
        return;
      }
      try {
        finish({ ok: true, reply: decodeCniWireReply(buf.slice(0, nl)) });
      } catch (err) {
        finish({
          ok: false,
          reason: 'bad-reply',
          message: `bad agent reply: ${(err as Error).message}`,
        });
      }
    });
    socket.on('error', (err: NodeJS.ErrnoException) =>
      finish({
        ok: false,
        reason: 'unreachable',
        message: `the ambit node agent is not reachable at ${socketPath} (${err.code ?? err.message}); is it running on this node?`,
      }),
    );
    socket.on('close', () =>
      finish({
        ok: false,
        reason: 'unreachable',
        message: 'the ambit node agent closed the connection without answering',
      }),
    );
  });
}
