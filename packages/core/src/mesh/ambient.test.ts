import { describe, expect, it } from 'vitest';
import {
  decideAmbient,
  enrolledMark,
  enrolledOn,
  namespaceIsAmbient,
  type AmbientNamespace,
  type AmbientPod,
} from './ambient.ts';

const MODE = 'ambit.dev/dataplane-mode';
const ns = (mode?: string): AmbientNamespace => ({ labels: mode ? { [MODE]: mode } : {} });
const pod = (labels: Record<string, string> = {}, annotations: Record<string, string> = {}) =>
  ({ namespace: 'shop', labels, annotations }) satisfies AmbientPod;

describe('the ambient decision', () => {
  it.each([
    ['ambient namespace', ns('ambient'), pod(), true, 'namespace shop is ambient'],
    ['unlabelled namespace', ns(), pod(), false, 'not labelled'],
    ['namespace labelled none', ns('none'), pod(), false, 'not labelled'],
    ['namespace with another value', ns('sidecar'), pod(), false, 'not labelled'],
    ['pod opts out by label', ns('ambient'), pod({ [MODE]: 'none' }), false, 'opts out'],
    ['pod opts out by annotation', ns('ambient'), pod({}, { [MODE]: 'none' }), false, 'opts out'],
    ['pod opts in alone', ns(), pod({ [MODE]: 'ambient' }), true, 'opts in'],
    ['pod opts in by annotation', ns(), pod({}, { [MODE]: 'ambient' }), true, 'opts in'],
    [
      'the pod label wins over its annotation',
      ns('ambient'),
      pod({ [MODE]: 'ambient' }, { [MODE]: 'none' }),
      true,
      'opts in',
    ],
    [
      'an unknown pod value leaves it to the namespace',
      ns('ambient'),
      pod({ [MODE]: 'x' }),
      true,
      'ambient',
    ],
    ['unknown namespace', undefined, pod(), false, 'not labelled'],
    ['namespace without labels', {}, pod(), false, 'not labelled'],
    ['pod without labels or annotations', ns('ambient'), { namespace: 'shop' }, true, 'ambient'],
    ['unknown pod', ns('ambient'), undefined, false, 'unknown'],
  ] as const)('%s', (_name, n, p, ambient, reason) => {
    const d = decideAmbient(n, p);
    expect(d.ambient).toBe(ambient);
    expect(d.reason).toContain(reason);
  });

  it('namespaceIsAmbient reads only the namespace label', () => {
    expect(namespaceIsAmbient(ns('ambient'))).toBe(true);
    expect(namespaceIsAmbient(ns('none'))).toBe(false);
    expect(namespaceIsAmbient(undefined)).toBe(false);
  });
});

describe('the enrolment mark', () => {
  it('is <node>/<RFC 3339 UTC, seconds> and is read back per node', () => {
    const mark = enrolledMark('node-a', new Date('2026-11-23T01:02:03.456Z'));
    expect(mark).toBe('node-a/2026-11-23T01:02:03Z');
    expect(enrolledOn(mark, 'node-a')).toBe(true);
    expect(enrolledOn(mark, 'node-b')).toBe(false);
    expect(enrolledOn(undefined, 'node-a')).toBe(false);
    expect(enrolledOn(mark, undefined)).toBe(false);
  });
});
