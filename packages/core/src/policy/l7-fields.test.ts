import { describe, expect, it } from 'vitest';
import { authorizationFromSpec } from './from-spec.ts';
import { l7Fields } from './l7-fields.ts';

function policy(spec: unknown) {
  return authorizationFromSpec({
    apiVersion: 'ambit.dev/v1alpha1',
    kind: 'AuthorizationPolicy',
    metadata: { name: 'p', namespace: 'shop' },
    spec,
  });
}

describe('l7Fields', () => {
  it('is empty for a policy ztunnel can enforce fully', () => {
    const p = policy({
      rules: [
        {
          from: [{ source: { principals: ['*'], notIpBlocks: ['10.0.0.0/8'] } }],
          to: [{ operation: { ports: [80], notPorts: [81] } }],
          when: [
            { key: 'source.ip', values: ['10.0.0.1'] },
            { key: 'destination.port', values: ['80'] },
          ],
        },
      ],
    });
    expect(l7Fields(p)).toEqual([]);
  });

  it('names every L7 field by its spec path', () => {
    const p = policy({
      rules: [
        { from: [{ source: { namespaces: ['a'] } }] },
        {
          to: [
            { operation: { ports: [80] } },
            { operation: { methods: ['GET'], notPaths: ['/x'] } },
          ],
          when: [
            { key: 'source.namespace', values: ['a'] },
            { key: 'request.headers[X-User]', values: ['alice'] },
            { key: 'request.auth.claims[groups]', values: ['admin'] },
          ],
        },
        { to: [{ operation: { hosts: ['*.shop'], notHosts: ['a.shop'], notMethods: ['PUT'] } }] },
      ],
    });
    expect(l7Fields(p)).toEqual([
      'spec.rules[1].to[1].operation.methods',
      'spec.rules[1].to[1].operation.notPaths',
      'spec.rules[1].when[1] (request.headers[x-user])',
      'spec.rules[1].when[2] (request.auth.claims[groups])',
      'spec.rules[2].to[0].operation.notMethods',
      'spec.rules[2].to[0].operation.hosts',
      'spec.rules[2].to[0].operation.notHosts',
    ]);
  });
});
