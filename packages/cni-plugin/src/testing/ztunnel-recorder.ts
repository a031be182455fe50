// TEST FIXTURE: the ztunnel side of the in-pod handoff, without ztunnel: a real InpodServer that
// records and acknowledges every snapshot/add/del, plus a small polling helper.

import type { InpodPod } from '@ambit/core/inpod/protocol';
import { InpodServer } from '@ambit/core/inpod/server';

export interface Recorder {
  server: InpodServer;
  held: Map<string, InpodPod>;
  log: string[];
}

export async function ztunnelRecorder(socketPath: string): Promise<Recorder> {
  const held = new Map<string, InpodPod>();
  const log: string[] = [];
  const server = new InpodServer({
    socketPath,
    handlers: {
      snapshot(pods) {
        log.push(
          `snapshot:${pods
            .map((p) => p.name)
            .sort()
            .join(',')}`,
        );
        held.clear();
        for (const p of pods) held.set(p.uid, p);
      },
      add(p) {
        log.push(`add:${p.name}`);
        held.set(p.uid, p);
      },
      del(uid) {
        log.push(`del:${held.get(uid)?.name ?? uid}`);
        held.delete(uid);
      },
    },
  });
  await server.listen();
  return { server, held, log };
}

export function waitFor(cond: () => boolean, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const tick = (): void => {
      if (cond()) resolve();
      else if (Date.now() > until) reject(new Error('condition not met in time'));
      else setTimeout(tick, 20);
    };
    tick();
  });
}
