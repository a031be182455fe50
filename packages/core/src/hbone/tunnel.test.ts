import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { HboneRequestContext } from './server.ts';
import { HbonePool, tunnelInfo } from './pool.ts';
import {
  closeAll,
  createFixture,
  readAll,
  startBackend,
  startHboneServer,
  type Fixture,
} from './test-fixtures.ts';

let f: Fixture;
beforeEach(async () => {
  f = await createFixture();
});
afterEach(() => closeAll(f));

function pool(opts: ConstructorParameters<typeof HbonePool>[0] = {}): HbonePool {
  const p = new HbonePool(opts);
  f.cleanups.push(() => p.close({ graceMs: 0 }));
  return p;
}

describe('HBONE tunnel', () => {
  it('echoes through a tunnel with both identities verified', async () => {
    const backend = await startBackend(f);
    const seen: HboneRequestContext[] = [];
    const { port } = await startHboneServer(f, {
      authorize: (ctx) => {
        seen.push(ctx);
        return Promise.resolve(true);
      },
    });
    const p = pool();
    const stream = await p.connect({
      address: { host: '127.0.0.1', port },
      authority: `127.0.0.1:${backend.port}`,
      source: f.client,
      expectedPeers: [f.server.id],
      headers: {
        forwarded: 'for="10.0.0.1:1234"',
        baggage: 'k8s.namespace.name=demo',
        traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      },
    });
    expect(tunnelInfo(stream)).toEqual({ peerId: f.server.id, tlsVersion: 'TLSv1.3', alpn: 'h2' });
    stream.end('hello hbone');
    expect((await readAll(stream)).toString()).toBe('hello hbone');
    expect(seen).toHaveLength(1);
    expect(seen[0]?.peerId).toBe(f.client.id);
    expect(seen[0]?.target).toEqual({ host: '127.0.0.1', port: backend.port });
    expect(seen[0]?.forwarded).toBe('for="10.0.0.1:1234"');
    expect(seen[0]?.baggage).toBe('k8s.namespace.name=demo');
    expect(seen[0]?.traceparent).toMatch(/^00-0af7/);
  });
});
