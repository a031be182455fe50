// helm install into a real API server: every object of the chart is admitted (CRDs, the STRICT
// PeerAuthentication, the ValidatingAdmissionPolicy type-checks), and the rights hold as
// designed, checked by impersonating each component's ServiceAccount: the node agent may set
// only ambit.dev/enrolled, only on its own node's pods; the controller and ztunnel may not patch
// or list pods the way the agent does.

import { execFileSync, spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { CHART, helm } from './render-chart.ts';
// The inject() keys (ambitKubeconfig, ambitKubectl) are declared by the e2e global setup.
import type {} from '../../../e2e/src/kube-global-setup.ts';

const kubeconfig = inject('ambitKubeconfig');
const kubectlBin = inject('ambitKubectl');
const NS = 'chart-test-shop';
const AGENT = 'system:serviceaccount:ambit-system:ambit-node-agent';

function kubectl(args: string[], input?: string): { ok: boolean; out: string } {
  const r = spawnSync(kubectlBin, ['--kubeconfig', kubeconfig, ...args], {
    encoding: 'utf8',
    input,
  });
  return { ok: r.status === 0, out: `${r.stdout}${r.stderr}` };
}

/** A JSON merge patch of the pod's metadata, as `user` (node claim: the token's bound node). */
function patchAs(
  user: string,
  node: string | undefined,
  metadata: object,
): { ok: boolean; out: string } {
  return kubectl([
    '-n',
    NS,
    'patch',
    'pod',
    'web',
    `--as=${user}`,
    '--as-group=system:serviceaccounts',
    ...(node === undefined
      ? []
      : [`--as-user-extra=authentication.kubernetes.io/node-name=${node}`]),
    '--type=merge',
    '-p',
    JSON.stringify({ metadata }),
  ]);
}

/** The mode of the mesh-wide PeerAuthentication ambit-system/default ('' when absent). */
const meshMode = (): string =>
  kubectl([
    '-n',
    'ambit-system',
    'get',
    'peerauthentication',
    'default',
    '-o',
    'jsonpath={.spec.mtls.mode}',
  ]).out;

beforeAll(() => {
  execFileSync(
    helm(),
    [
      'upgrade',
      '--install',
      'ambit',
      CHART,
      '--namespace',
      'ambit-system',
      '--create-namespace',
      '--kubeconfig',
      kubeconfig,
      '--set',
      'meshMtlsMode=STRICT',
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  kubectl(['create', 'namespace', NS]);
  const pod = kubectl(
    ['-n', NS, 'apply', '-f', '-'],
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'web', labels: { app: 'web' }, annotations: { keep: '1' } },
      spec: { nodeName: 'node-1', containers: [{ name: 'c', image: 'example.invalid/web:1' }] },
    }),
  );
  if (!pod.ok) throw new Error(pod.out);
});

afterAll(() => {
  kubectl(['delete', 'namespace', NS, '--wait=false']);
  spawnSync(helm(), [
    'uninstall',
    'ambit',
    '-n',
    'ambit-system',
    '--no-hooks',
    '--kubeconfig',
    kubeconfig,
  ]);
});

describe('helm install on a real API server', () => {
  it('admits every object; the admission policy type-checks; STRICT is the mesh default', () => {
    const vap = kubectl(['get', 'validatingadmissionpolicy', 'ambit-node-agent', '-o', 'json']);
    expect(vap.ok).toBe(true);
    const status = (
      JSON.parse(vap.out) as { status?: { typeChecking?: { expressionWarnings?: unknown[] } } }
    ).status;
    expect(status?.typeChecking?.expressionWarnings ?? []).toEqual([]);
    expect(meshMode()).toBe('STRICT');
    for (const kind of [
      'deployment/ambit-controller',
      'daemonset/ztunnel',
      'daemonset/ambit-node-agent',
      'service/ambit-controller',
      'poddisruptionbudget/ambit-controller',
    ]) {
      expect(kubectl(['-n', 'ambit-system', 'get', kind]).ok, kind).toBe(true);
    }
  });
});

describe('the node agent may write only its enrolment mark, only on its own node', () => {
  it('sets and removes ambit.dev/enrolled on a pod of its node', () => {
    expect(
      patchAs(AGENT, 'node-1', {
        annotations: { 'ambit.dev/enrolled': 'node-1/2026-01-01T00:00:00Z' },
      }).ok,
    ).toBe(true);
    expect(patchAs(AGENT, 'node-1', { annotations: { 'ambit.dev/enrolled': null } }).ok).toBe(true);
  });

  it('is refused on another node, or without a node-bound token', () => {
    for (const node of ['node-2', undefined]) {
      const r = patchAs(AGENT, node, { annotations: { 'ambit.dev/enrolled': 'x' } });
      expect(r.ok).toBe(false);
      expect(r.out).toContain('may only change pods on its own node');
    }
  });

  it('is refused for any other annotation or label, added or removed', () => {
    for (const metadata of [{ annotations: { other: 'y' } }, { annotations: { keep: null } }]) {
      const r = patchAs(AGENT, 'node-1', metadata);
      expect(r.ok).toBe(false);
      expect(r.out).toContain('may change no pod annotation but ambit.dev/enrolled');
    }
    const label = patchAs(AGENT, 'node-1', { labels: { app: 'evil' } });
    expect(label.ok).toBe(false);
    expect(label.out).toContain('may not change pod labels');
  });

  it('the controller cannot patch pods; ztunnel cannot even list them', () => {
    const c = patchAs('system:serviceaccount:ambit-system:ambit-controller', undefined, {
      annotations: { x: 'y' },
    });
    expect(c.out).toMatch(/cannot patch resource "pods"/);
    const z = kubectl(['get', 'pods', '-A', '--as=system:serviceaccount:ambit-system:ztunnel']);
    expect(z.out).toMatch(/cannot list resource "pods"/);
  });
});

describe('the node agent may read its own DaemonSet only (to tell an uninstall from a restart)', () => {
  it('get/list/watch of ambit-node-agent in ambit-system; no other DaemonSet', () => {
    const can = (args: string[]): string =>
      kubectl(['auth', 'can-i', ...args, '-n', 'ambit-system', `--as=${AGENT}`]).out.trim();
    for (const verb of ['get', 'list', 'watch'])
      expect(can([verb, 'daemonsets.apps/ambit-node-agent'])).toBe('yes');
    expect(can(['get', 'daemonsets.apps/ztunnel'])).toBe('no');
    expect(can(['delete', 'daemonsets.apps/ambit-node-agent'])).toBe('no');
    expect(can(['list', 'daemonsets.apps'])).toBe('no');
  });
});

describe('upgrade and uninstall', () => {
  // This API server has no nodes: the pre-delete hook's Job could never run (the e2e suite's
  // 90-uninstall runs it on real nodes), so uninstall skips hooks here.
  const NO_NODES = ['--no-hooks'];
  const helmRun = (args: string[]): { ok: boolean; out: string } => {
    const r = spawnSync(helm(), [...args, '--kubeconfig', kubeconfig], { encoding: 'utf8' });
    return { ok: r.status === 0, out: `${r.stdout}${r.stderr}` };
  };
  const install = (...set: string[]): void => {
    const r = helmRun([
      'upgrade',
      '--install',
      'ambit',
      CHART,
      '-n',
      'ambit-system',
      '--create-namespace',
      ...set.flatMap((s) => ['--set', s]),
    ]);
    expect(r.ok, r.out).toBe(true);
  };
  const crds = [
    'waypoints.ambit.dev',
    'authorizationpolicies.ambit.dev',
    'peerauthentications.ambit.dev',
  ];
  const crdCount = (): number => crds.filter((c) => kubectl(['get', 'crd', c]).ok).length;
  async function until(cond: () => boolean, what: string): Promise<void> {
    const end = Date.now() + 90_000;
    while (!cond()) {
      if (Date.now() > end) throw new Error(`not within 90 s: ${what}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  it('an upgrade keeps the STRICT mesh default in place and the release owns it; PERMISSIVE removes it', () => {
    const uid = kubectl([
      '-n',
      'ambit-system',
      'get',
      'peerauthentication',
      'default',
      '-o',
      'jsonpath={.metadata.uid}',
    ]).out;
    install('meshMtlsMode=STRICT');
    // Adopted, not recreated: never a moment without it.
    expect(
      kubectl([
        '-n',
        'ambit-system',
        'get',
        'peerauthentication',
        'default',
        '-o',
        'jsonpath={.metadata.uid}',
      ]).out,
    ).toBe(uid);
    expect(meshMode()).toBe('STRICT');
    install('meshMtlsMode=PERMISSIVE');
    expect(kubectl(['-n', 'ambit-system', 'get', 'peerauthentication', 'default']).ok).toBe(false);
    install('meshMtlsMode=STRICT');
    expect(meshMode()).toBe('STRICT');
  });

  /** A Waypoint and a Service owned by it, as the controller makes them (waypoint-objects.ts). */
  function waypointWithService(name: string): void {
    const wp = kubectl(
      ['-n', NS, 'apply', '-f', '-'],
      JSON.stringify({ apiVersion: 'ambit.dev/v1alpha1', kind: 'Waypoint', metadata: { name } }),
    );
    expect(wp.ok, wp.out).toBe(true);
    const uid = kubectl(['-n', NS, 'get', 'waypoint', name, '-o', 'jsonpath={.metadata.uid}']).out;
    const owned = kubectl(
      ['-n', NS, 'apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Service',
        metadata: {
          name: `${name}-svc`,
          ownerReferences: [
            {
              apiVersion: 'ambit.dev/v1alpha1',
              kind: 'Waypoint',
              name,
              uid,
              controller: true,
              blockOwnerDeletion: true,
            },
          ],
        },
        spec: { ports: [{ port: 15008 }] },
      }),
    );
    expect(owned.ok, owned.out).toBe(true);
  }

  it('helm uninstall deletes the CRDs, every Waypoint and what the controller made for it', async () => {
    // As in a cluster where Ambit has run a while: the garbage collector already watches Waypoints
    // (it picks up new kinds every 30 s); a Waypoint deleted now takes its Service with it.
    waypointWithService('probe');
    expect(kubectl(['-n', NS, 'delete', 'waypoint', 'probe']).ok).toBe(true);
    await until(
      () => !kubectl(['-n', NS, 'get', 'service', 'probe-svc']).ok,
      'GC watches Waypoints',
    );
    waypointWithService('wp');
    const r = helmRun(['uninstall', 'ambit', '-n', 'ambit-system', '--wait', ...NO_NODES]);
    expect(r.ok, r.out).toBe(true);
    await until(() => crdCount() === 0, 'CRDs deleted');
    await until(
      () => !kubectl(['-n', NS, 'get', 'service', 'wp-svc']).ok,
      'owned Service collected',
    );
    for (const kind of [
      'daemonset/ambit-node-agent',
      'role/ambit-node-agent',
      'rolebinding/ambit-node-agent',
    ])
      expect(kubectl(['-n', 'ambit-system', 'get', kind]).ok, kind).toBe(false);
    // The workload itself is untouched.
    expect(kubectl(['-n', NS, 'get', 'pod', 'web']).ok).toBe(true);
  });

  it('crds.keep: helm uninstall leaves the CRDs and their objects', async () => {
    install('crds.keep=true');
    await until(() => crdCount() === 3, 'CRDs installed');
    const wp = kubectl(
      ['-n', NS, 'apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'ambit.dev/v1alpha1',
        kind: 'Waypoint',
        metadata: { name: 'kept' },
      }),
    );
    expect(wp.ok, wp.out).toBe(true);
    expect(helmRun(['uninstall', 'ambit', '-n', 'ambit-system', '--wait', ...NO_NODES]).ok).toBe(
      true,
    );
    expect(crdCount()).toBe(3);
    expect(kubectl(['-n', NS, 'get', 'waypoint', 'kept']).ok).toBe(true);
    kubectl(['delete', 'crd', ...crds]);
  });
});
