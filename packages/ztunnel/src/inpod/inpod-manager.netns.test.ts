// The in-pod handlers' semantics (root; plain netns made with iproute2, no CNI): snapshot keeps
// what stays and drops only what is gone, add replaces a held uid (and is a no-op when nothing
// changed), del of an unknown uid succeeds, a pod that cannot be captured is refused with
// AMBIT_INPOD_CAPTURE and leaves nothing open.

import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InpodPod } from '@ambit/core/inpod/protocol';
import { socketInNetns } from '@ambit/netns';
import { closeServer, serveFd } from '@ambit/netns/testing/net-helpers';
import { createTempNetns, requireRoot, type TempNetns } from '@ambit/netns/testing/temp-netns';
import { listeningPorts } from '../testing/inpod-cluster.ts';
import { MeshHarness } from '../testing/mesh-harness.ts';
import type { Ztunnel } from '../ztunnel.ts';
import type { InpodManager } from './inpod-manager.ts';

const CAPTURE_PORTS = [15001, 15006, 15008];

describe('in-pod handlers (snapshot, add, del)', () => {
  let h: MeshHarness;
  let z: Ztunnel;
  let m: InpodManager;
  const ns: TempNetns[] = [];

  function pod(i: number, extra: Partial<InpodPod> = {}): InpodPod {
    const n = ns[i];
    if (!n) throw new Error(`no netns ${i}`);
    return {
      uid: `uid-${i}`,
      name: `p${i}`,
      namespace: 'shop',
      serviceAccount: `sa${i}`,
      netns: n.path,
      ips: [`10.99.0.${i + 1}`],
      ...extra,
    };
  }
  const held = (): string[] => m.pods.map((p) => p.pod.uid).sort();
  const settled = async (): Promise<void> => {
    await Promise.all(m.pods.map((p) => p.appDialer.probed));
  };

  beforeAll(async () => {
    requireRoot();
    for (let i = 0; i < 3; i++) {
      const n = createTempNetns();
      n.exec('ip', 'addr', 'add', `10.99.0.${i + 1}/32`, 'dev', 'lo');
      ns.push(n);
    }
    h = await MeshHarness.create();
    await h.writeConfig('mesh: { trustDomain: cluster.local }\nworkloads: []\n');
    const started = await h.ztunnel('node-a', {
      config: h.config('node-a', ['--inpod-socket', join(h.dir, 'zt.sock')]),
    });
    z = started.z;
    if (!z.inpod) throw new Error('in-pod mode is off');
    m = z.inpod;
  });
  afterAll(async () => {
    await h?.close();
    for (const n of ns) n.remove();
  });

  it('add opens the three listeners in the pod netns with its identity; the same add again changes nothing', async () => {
    await m.add(pod(0));
    await settled();
    expect(listeningPorts(pod(0).netns)).toEqual(CAPTURE_PORTS);
    const first = m.pods[0];
    expect(first?.identity).toBe('spiffe://cluster.local/ns/shop/sa/sa0');
    await m.add(pod(0));
    expect(m.pods[0]).toBe(first);
  });

  it('add for a held uid with other facts replaces it: the old netns is left with no listener', async () => {
    await m.add(pod(0, { netns: ns[1]!.path, ips: ['10.99.0.2'] }));
    await settled();
    expect(listeningPorts(ns[0]!.path)).toEqual([]);
    expect(listeningPorts(ns[1]!.path)).toEqual(CAPTURE_PORTS);
    expect(held()).toEqual(['uid-0']);
  });

  it('snapshot keeps the pods that stay (same objects) and drops only the others', async () => {
    const before = m.pods.find((p) => p.pod.uid === 'uid-0');
    await m.snapshot([pod(0, { netns: ns[1]!.path, ips: ['10.99.0.2'] }), pod(2)]);
    await settled();
    expect(held()).toEqual(['uid-0', 'uid-2']);
    expect(m.pods.find((p) => p.pod.uid === 'uid-0')).toBe(before);
    await m.snapshot([pod(2)]);
    expect(held()).toEqual(['uid-2']);
    expect(listeningPorts(ns[1]!.path)).toEqual([]);
    expect(listeningPorts(ns[2]!.path)).toEqual(CAPTURE_PORTS);
    await m.del('uid-2');
    expect(held()).toEqual([]);
    expect(listeningPorts(ns[2]!.path)).toEqual([]);
  });

  it('a release that never finishes holds up the next messages for RELEASE_DEADLINE_MS at most', async () => {
    await m.add(pod(0));
    await settled();
    const stuck = m.pods[0]!;
    const realClose = stuck.close.bind(stuck);
    stuck.close = () => new Promise<void>(() => {}); // never resolves
    await m.del('uid-0'); // resolves once the deadline passed
    expect(held()).toEqual([]);
    await m.add(pod(1));
    await settled();
    expect(held()).toEqual(['uid-1']);
    expect(listeningPorts(ns[1]!.path)).toEqual(CAPTURE_PORTS);
    await realClose();
    await m.del('uid-1');
    expect(listeningPorts(ns[0]!.path)).toEqual([]);
    expect(listeningPorts(ns[1]!.path)).toEqual([]);
  }, 20_000);

  it('del of an unknown uid succeeds', async () => {
    await expect(m.del('never-seen')).resolves.toBeUndefined();
  });

  it('refuses a pod it cannot capture (bad netns, a capture port taken) and leaves nothing open', async () => {
    const fds = readdirSync('/proc/self/fd').length;
    await expect(m.add(pod(0, { netns: '/var/run/netns/ambit-nope' }))).rejects.toMatchObject({
      code: 'AMBIT_INPOD_CAPTURE',
      message: expect.stringMatching(/AMBIT_NETNS_OPEN/) as unknown,
    });
    const squatter = await serveFd(
      socketInNetns(ns[0]!.path, { family: 4, listen: { address: '0.0.0.0', port: 15006 } }),
      (s) => s.destroy(),
    );
    try {
      await expect(m.add(pod(0))).rejects.toMatchObject({
        code: 'AMBIT_INPOD_CAPTURE',
        message: expect.stringMatching(/EADDRINUSE/) as unknown,
      });
      expect(listeningPorts(ns[0]!.path)).toEqual([15006]);
    } finally {
      await closeServer(squatter);
    }
    expect(held()).toEqual([]);
    expect(readdirSync('/proc/self/fd').length).toBeLessThanOrEqual(fds);
    // And it works once the port is free.
    await m.add(pod(0));
    await settled();
    expect(listeningPorts(ns[0]!.path)).toEqual(CAPTURE_PORTS);
    await m.del('uid-0');
  });
});
