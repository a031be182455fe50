import { describe, expect, it } from 'vitest';
import { InpodProtocolError } from '../errors.ts';
import {
  INPOD_MAX_MESSAGE_BYTES,
  decodeAgentMessage,
  decodeZtunnelMessage,
  encodeInpodMessage,
  peekMessageId,
  type InpodPod,
} from './protocol.ts';

const pod: InpodPod = {
  uid: 'u-1',
  name: 'web-0',
  namespace: 'shop',
  serviceAccount: 'web',
  netns: '/var/run/netns/cni-1234',
  ips: ['10.22.0.5', 'fd00::5'],
};

function rejects(line: string, text: string | RegExp): void {
  const fn = (): unknown => decodeAgentMessage(line);
  expect(fn).toThrow(InpodProtocolError);
  expect(fn).toThrow(text);
}

describe('in-pod protocol', () => {
  it('round-trips every agent message', () => {
    for (const m of [
      { type: 'hello', id: 1, version: 1, node: 'node-a' },
      { type: 'snapshot', id: 2, pods: [pod] },
      { type: 'add', id: 3, pod },
      { type: 'del', id: 4, uid: 'u-1' },
    ] as const) {
      const line = encodeInpodMessage(m);
      expect(line.endsWith('\n')).toBe(true);
      expect(decodeAgentMessage(line.trim())).toEqual(m);
    }
  });

  it('round-trips ack and nack', () => {
    expect(decodeZtunnelMessage(encodeInpodMessage({ type: 'ack', id: 7 }).trim())).toEqual({
      type: 'ack',
      id: 7,
    });
    expect(
      decodeZtunnelMessage(encodeInpodMessage({ type: 'nack', id: 8, reason: 'no' }).trim()),
    ).toEqual({ type: 'nack', id: 8, reason: 'no' });
  });

  it('canonicalises pod IPs', () => {
    const m = decodeAgentMessage(
      JSON.stringify({ type: 'add', id: 1, pod: { ...pod, ips: ['FD00:0:0::5'] } }),
    );
    expect(m.type === 'add' && m.pod.ips).toEqual(['fd00::5']);
  });

  it('names the bad field', () => {
    rejects('{nope', /not valid JSON/);
    rejects('[]', /is not an object/);
    rejects('{"type":"add","id":1}', /pod: missing value is not an object/);
    rejects('{"type":"shout","id":1}', /type: "shout" is not one of hello, snapshot, add, del/);
    rejects('{"type":"del","uid":"x"}', /id: missing value/);
    rejects(
      JSON.stringify({ type: 'add', id: 1, pod: { ...pod, netns: 'cni-1' } }),
      /pod.netns: "cni-1" is not an absolute path/,
    );
    rejects(
      JSON.stringify({ type: 'add', id: 1, pod: { ...pod, ips: ['10.0.0.300'] } }),
      /pod.ips\[0\]: "10.0.0.300" is not an IP address/,
    );
    rejects(
      JSON.stringify({ type: 'snapshot', id: 1, pods: [pod, pod] }),
      /pods\[1\].uid: pod u-1 is listed twice/,
    );
    rejects(JSON.stringify({ type: 'del', id: 1, uid: 'x', extra: 1 }), /extra: unknown field/);
    expect(() => decodeZtunnelMessage('{"type":"nack","id":1}')).toThrow(/reason: missing value/);
  });

  it('finds the id of a bad message for its NACK', () => {
    expect(peekMessageId('{"type":"add","id":42}')).toBe(42);
    expect(peekMessageId('garbage')).toBe(0);
  });

  it('refuses to encode a message over the size limit', () => {
    const big = Array.from({ length: INPOD_MAX_MESSAGE_BYTES / 100 }, (_, i) => ({
      ...pod,
      uid: `u-${i}`,
    }));
    expect(() => encodeInpodMessage({ type: 'snapshot', id: 1, pods: big })).toThrow(
      InpodProtocolError,
    );
  });
});
