import { describe, expect, it } from 'vitest';
import { ConfigStreamMessageError } from '../errors.ts';
import {
  LineSplitter,
  decodeClientMessage,
  decodeServerMessage,
  encodeClientMessage,
  encodeServerMessage,
  resourceKey,
  type ClientMessage,
  type ServerMessage,
} from './stream-protocol.ts';

const workload = {
  uid: 'uid-1',
  name: 'reviews-v1-abc',
  namespace: 'bookinfo',
  serviceAccount: 'reviews',
  node: 'node-a',
  ips: ['10.0.0.7'],
  protocol: 'HBONE',
  labels: { app: 'reviews' },
  workloadName: 'reviews-v1',
  canonicalName: 'reviews',
  canonicalRevision: 'v1',
  locality: { region: 'eu', zone: 'eu-1' },
  healthy: true,
  waypoint: {
    name: 'wp',
    namespace: 'bookinfo',
    address: '10.96.0.99',
    hbonePort: 15008,
    identity: 'spiffe://cluster.local/ns/bookinfo/sa/wp',
  },
};

function errorOf(fn: () => unknown): ConfigStreamMessageError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigStreamMessageError);
    expect((err as ConfigStreamMessageError).code).toBe('AMBIT_CONFIG_STREAM_MESSAGE');
    return err as ConfigStreamMessageError;
  }
  throw new Error('expected a ConfigStreamMessageError');
}

describe('config stream protocol', () => {
  it('round-trips a Workload update through one newline-terminated line', () => {
    const msg = {
      schema: 1,
      type: 'Workload',
      version: 'v3',
      nonce: 'n1',
      resources: [workload],
      removed: ['uid-0'],
    } as unknown as ServerMessage;
    const line = encodeServerMessage(msg);
    expect(line.endsWith('\n')).toBe(true);
    expect(line.indexOf('\n')).toBe(line.length - 1);
    expect(decodeServerMessage(line)).toEqual(msg);
  });

  it('canonicalizes IPv6 addresses so lookups agree', () => {
    const line = JSON.stringify({
      schema: 1,
      type: 'Workload',
      version: 'v1',
      nonce: 'n',
      resources: [{ ...workload, ips: ['FD00:0:0::0001'] }],
      removed: [],
    });
    const msg = decodeServerMessage(line);
    expect(msg.type === 'Workload' && msg.resources[0]?.ips).toEqual(['fd00::1']);
  });

  it('decodes Service and MeshConfig updates', () => {
    const svc = decodeServerMessage(
      JSON.stringify({
        schema: 1,
        type: 'Service',
        version: '1',
        nonce: 'a',
        resources: [
          {
            name: 'reviews',
            namespace: 'bookinfo',
            hostname: 'reviews.bookinfo.svc.cluster.local',
            vips: ['10.96.0.10'],
            ports: [{ port: 9080, targetPort: 8080, appProtocol: 'http' }],
            endpoints: [{ workloadUid: 'uid-1', ports: { '9080': 8081 } }],
          },
        ],
        removed: [],
      }),
    );
    expect(svc.type).toBe('Service');
    if (svc.type !== 'Service') return;
    expect(svc.resources[0]?.endpoints[0]?.ports?.[9080]).toBe(8081);
    expect(resourceKey('Service', svc.resources[0]!)).toBe('bookinfo/reviews');

    const mesh = decodeServerMessage(
      JSON.stringify({
        schema: 1,
        type: 'MeshConfig',
        version: '1',
        nonce: 'b',
        resources: [
          {
            trustDomain: 'example.org',
            mtlsMode: 'STRICT',
            namespaceMtlsModes: { legacy: 'PERMISSIVE' },
          },
        ],
        removed: [],
      }),
    );
    expect(mesh.type === 'MeshConfig' && mesh.resources[0]).toEqual({
      trustDomain: 'example.org',
      mtlsMode: 'STRICT',
      namespaceMtlsModes: { legacy: 'PERMISSIVE' },
      rootsPem: '',
    });
  });

  it.each([
    ['not JSON', '{"schema":1,', /not valid JSON/],
    [
      'a future schema',
      '{"schema":2,"type":"Workload"}',
      /schema: 2 is not a supported schema version/,
    ],
    [
      'an unknown type',
      '{"schema":1,"type":"Gateway","version":"1","nonce":"n","resources":[],"removed":[]}',
      /type: "Gateway" is not one of/,
    ],
    [
      'a missing nonce',
      '{"schema":1,"type":"Workload","version":"1","resources":[],"removed":[]}',
      /nonce: missing value is not a string/,
    ],
    [
      'a bad workload IP',
      JSON.stringify({
        schema: 1,
        type: 'Workload',
        version: '1',
        nonce: 'n',
        resources: [{ ...workload, ips: ['10.0.0.300'] }],
        removed: [],
      }),
      /resources\[0\]\.ips\[0\]: "10\.0\.0\.300" is not an IP address/,
    ],
    [
      'a bad waypoint identity',
      JSON.stringify({
        schema: 1,
        type: 'Workload',
        version: '1',
        nonce: 'n',
        resources: [{ ...workload, waypoint: { ...workload.waypoint, identity: 'wp' } }],
        removed: [],
      }),
      /resources\[0\]\.waypoint\.identity: invalid SPIFFE ID/,
    ],
    [
      'removed keys that are not strings',
      '{"schema":1,"type":"Service","version":"1","nonce":"n","resources":[],"removed":[3]}',
      /removed\[0\]: 3 is not a string/,
    ],
  ])('refuses %s with a clear error', (_name, line, message) => {
    expect(errorOf(() => decodeServerMessage(line)).message).toMatch(message);
  });

  it('round-trips subscribe, ack and nack', () => {
    const msgs: ClientMessage[] = [
      {
        schema: 1,
        kind: 'subscribe',
        node: 'node-a',
        types: ['Workload', 'Service'],
        versions: { Workload: 'v3' },
      },
      { schema: 1, kind: 'ack', type: 'Workload', version: 'v4', nonce: 'n4' },
      { schema: 1, kind: 'nack', type: 'Service', version: '', nonce: 'n5', reason: 'bad VIP' },
    ];
    for (const m of msgs) expect(decodeClientMessage(encodeClientMessage(m))).toEqual(m);
  });

  it('refuses client messages of unknown kind or without types', () => {
    expect(errorOf(() => decodeClientMessage('{"schema":1,"kind":"hello"}')).message).toMatch(
      /kind: "hello"/,
    );
    expect(
      errorOf(() => decodeClientMessage('{"schema":1,"kind":"subscribe","node":"a","types":[]}'))
        .message,
    ).toMatch(/types: subscribe to at least one/);
    expect(
      errorOf(() =>
        decodeClientMessage(
          '{"schema":1,"kind":"nack","type":"Workload","version":"1","nonce":"n"}',
        ),
      ).message,
    ).toMatch(/reason/);
  });
});

describe('LineSplitter', () => {
  it('reassembles lines split across chunks, including a multi-byte character split in two', () => {
    const s = new LineSplitter();
    const bytes = Buffer.from('{"a":"é"}\n{"b":1}\n', 'utf8');
    const cut = bytes.indexOf(0xa9); // second byte of "é"
    expect(s.push(bytes.subarray(0, cut))).toEqual([]);
    expect(s.push(bytes.subarray(cut))).toEqual(['{"a":"é"}', '{"b":1}']);
    s.end();
  });

  it('refuses an over-long line and a stream cut mid-message', () => {
    const s = new LineSplitter(10);
    expect(() => s.push('x'.repeat(11))).toThrow(ConfigStreamMessageError);
    // A complete over-long line in one chunk is refused too, as is one built up over chunks.
    expect(() => new LineSplitter(10).push(`${'x'.repeat(11)}\n`)).toThrow(/longer than 10/);
    const u = new LineSplitter(10);
    expect(u.push('xxxxxx')).toEqual([]);
    expect(() => u.push('xxxxx\n')).toThrow(/longer than 10/);
    expect(new LineSplitter(10).push('012345678\r\n\n9876543210\n')).toEqual([
      '012345678',
      '9876543210',
    ]);
    const t = new LineSplitter();
    t.push('{"partial":');
    expect(() => t.end()).toThrow(/middle of a message/);
  });
});
