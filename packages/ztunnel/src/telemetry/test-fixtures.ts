// Shared by the telemetry and admin tests: a tiny mesh, a sink that collects log lines, a scrape.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SpiffeId } from '@ambit/core/identity/spiffe-id';
import type { Service, Workload } from '@ambit/core/mesh/types';
import { parseLocalConfig } from '../local-config.ts';
import { buildSnapshot, type MeshSnapshot } from '../state/mesh-snapshot.ts';
import type { ConnectionInfo } from './connection-telemetry.ts';

export function testSnapshot(): MeshSnapshot {
  const text = readFileSync(join(import.meta.dirname, 'testdata/mesh.yaml'), 'utf8');
  return buildSnapshot(parseLocalConfig(text, 'mesh.yaml'), 1);
}

export function fixtureMesh(): {
  snapshot: MeshSnapshot;
  sleep: Workload;
  reviews: Workload;
  reviewsSvc: Service;
} {
  const snapshot = testSnapshot();
  const find = (name: string): Workload => {
    const w = [...snapshot.workloads.values()].find((x) => x.name === name);
    if (!w) throw new Error(`no workload ${name} in testdata/mesh.yaml`);
    return w;
  };
  const reviewsSvc = [...snapshot.services.values()].find((s) => s.name === 'reviews');
  if (!reviewsSvc) throw new Error('no service reviews in testdata/mesh.yaml');
  return { snapshot, sleep: find('sleep-6d8f'), reviews: find('reviews-v2-7c9b'), reviewsSvc };
}

export const SLEEP_ID = 'spiffe://cluster.local/ns/default/sa/sleep' as SpiffeId;
export const REVIEWS_ID = 'spiffe://cluster.local/ns/bookinfo/sa/reviews' as SpiffeId;

/** sleep → reviews over HBONE, as the source ztunnel sees it. */
export function outboundInfo(): ConnectionInfo {
  const m = fixtureMesh();
  return {
    reporter: 'source',
    source: m.sleep,
    sourceAddress: { host: '127.0.1.1', port: 40000 },
    sourcePrincipal: SLEEP_ID,
    destination: m.reviews,
    destinationService: m.reviewsSvc,
    destinationPrincipal: REVIEWS_ID,
    destinationAddress: { host: '127.0.2.1', port: 8080 },
    connectionSecurityPolicy: 'mutual_tls',
    protocol: 'HBONE',
  };
}

/** Collects written lines; `json()` parses them. */
export class LineSink {
  readonly lines: string[] = [];
  write(s: string): boolean {
    for (const l of s.split('\n')) if (l !== '') this.lines.push(l);
    return true;
  }
  json(): Record<string, unknown>[] {
    return this.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  }
}

/** GET over real HTTP. */
export async function httpGet(
  port: number,
  path: string,
): Promise<{ status: number; contentType: string; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return {
    status: res.status,
    contentType: res.headers.get('content-type') ?? '',
    body: await res.text(),
  };
}

/** The value of one sample in a Prometheus text exposition, matching name and every given label. */
export function sampleValue(
  text: string,
  name: string,
  labels: Readonly<Record<string, string>> = {},
): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{') && !line.startsWith(name + ' ')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got = parseLabels(m[2] ?? '');
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(m[3]);
  }
  return undefined;
}

export function parseLabels(s: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of s.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) out[m[1]!] = m[2]!;
  return out;
}
