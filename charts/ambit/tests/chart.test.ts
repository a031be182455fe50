// charts/ambit rendered by the real helm over the main value combinations, asserting what a user
// and the binaries depend on: ports, probes, flags each binary parses, capabilities, host paths
// shared between processes, RBAC, and that bad values are refused before anything is applied.

import { readdirSync, readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  at,
  CHART,
  flag,
  helm,
  list,
  named,
  REPO,
  render,
  runHelm,
  str,
  type Obj,
  type Rendered,
} from './render-chart.ts';

const APP_VERSION = str(parse(readFileSync(`${CHART}/Chart.yaml`, 'utf8')), 'appVersion');

let defaults: Rendered;
beforeAll(() => {
  helm(); // may build helm once (e2e cache)
  defaults = render();
});

function strings(o: unknown, path: string): string[] {
  const v = at(o, path);
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

function ports(container: Obj): unknown[] {
  return list(container, 'ports').map((p) => p.containerPort);
}

function mountPath(container: Obj, volume: string): string {
  return str(named(list(container, 'volumeMounts'), volume), 'mountPath');
}

function hostPath(pod: Obj, volume: string): string {
  return str(named(list(pod, 'volumes'), volume), 'hostPath.path');
}

function rules(r: Rendered, kind: 'ClusterRole' | 'Role', name: string): Obj[] {
  return list(r.get(kind, name), 'rules');
}

/** The verbs a role grants on a resource (any resourceNames), sorted. */
function verbs(roleRules: Obj[], group: string, resource: string): string[] {
  const out = new Set<string>();
  for (const rule of roleRules) {
    if (
      strings(rule, 'apiGroups').includes(group) &&
      strings(rule, 'resources').includes(resource)
    ) {
      for (const v of strings(rule, 'verbs')) out.add(v);
    }
  }
  return [...out].sort();
}

function agentConfig(r: Rendered, name = 'ambit-node-agent'): Obj {
  return parse(
    (at(r.get('ConfigMap', name), 'data') as Record<string, string>)['agent.yaml'] ?? '',
  ) as Obj;
}

describe('helm lint', () => {
  it('is clean for the defaults and for STRICT with an operator CA', () => {
    for (const extra of [
      [],
      ['--set', 'meshMtlsMode=STRICT', '--set', 'ca.existingSecret=my-ca'],
    ]) {
      const r = runHelm(['lint', CHART, '--namespace', 'ambit-system', '--strict', ...extra]);
      expect(r.stdout + r.stderr).not.toMatch(/\[(ERROR|WARNING)\]/);
      expect(r.status).toBe(0);
    }
  });
});

describe('CRDs', () => {
  const src = `${REPO}packages/controller/crds`;
  const names = readdirSync(src)
    .filter((f) => f.endsWith('.yaml'))
    .sort();

  it('files/crds are byte-identical copies of packages/controller/crds (the source of truth)', () => {
    expect(readdirSync(`${CHART}/files/crds`).sort()).toEqual(names);
    for (const f of names) {
      expect(
        readFileSync(`${CHART}/files/crds/${f}`, 'utf8'),
        `charts/ambit/files/crds/${f} differs from packages/controller/crds: run make chart-crds`,
      ).toBe(readFileSync(`${src}/${f}`, 'utf8'));
    }
    // Nothing in crds/: helm would install those once and never upgrade or delete them.
    expect(readdirSync(CHART)).not.toContain('crds');
  });

  it('are rendered as templates (installed, upgraded and deleted with the release), unchanged but for labels', () => {
    const crds = defaults.all('CustomResourceDefinition');
    expect(crds.map((c) => str(c, 'metadata.name')).sort()).toEqual(
      names.map((f) => f.replace(/\.yaml$/, '')),
    );
    for (const f of names) {
      const source = parse(readFileSync(`${src}/${f}`, 'utf8')) as Obj;
      const rendered = defaults.get('CustomResourceDefinition', str(source, 'metadata.name'));
      expect(rendered.spec, f).toEqual(source.spec);
      expect(at(rendered, 'metadata.labels')).toMatchObject({
        ...(at(source, 'metadata.labels') as object),
        'app.kubernetes.io/managed-by': 'Helm',
        'app.kubernetes.io/instance': 'ambit',
      });
      expect(at(rendered, 'metadata.annotations')).toBeUndefined();
    }
  });

  it('crds.keep: helm uninstall leaves them (resource-policy keep); crds.install=false: none', () => {
    const kept = render({ 'crds.keep': true }).all('CustomResourceDefinition');
    expect(kept).toHaveLength(names.length);
    for (const c of kept) {
      expect(at(c, 'metadata.annotations')).toEqual({ 'helm.sh/resource-policy': 'keep' });
    }
    const none = render({ 'crds.install': false });
    expect(none.all('CustomResourceDefinition')).toEqual([]);
    expect(none.has('Deployment', 'ambit-controller')).toBe(true);
    expect(() => render({ 'crds.delete': true })).toThrow(/additional properties 'delete'/);
  });
});

describe('defaults', () => {
  it('renders the three components, all in ambit-system, and no mesh-wide policy', () => {
    expect(defaults.has('Deployment', 'ambit-controller')).toBe(true);
    expect(defaults.has('DaemonSet', 'ztunnel')).toBe(true);
    expect(defaults.has('DaemonSet', 'ambit-node-agent')).toBe(true);
    expect(defaults.all('PeerAuthentication')).toEqual([]);
    const clusterScoped = [
      'CustomResourceDefinition',
      'ClusterRole',
      'ClusterRoleBinding',
      'ValidatingAdmissionPolicy',
      'ValidatingAdmissionPolicyBinding',
    ];
    for (const o of defaults.objects) {
      if (clusterScoped.includes(str(o, 'kind'))) continue;
      expect(at(o, 'metadata.namespace'), `${str(o, 'kind')} ${str(o, 'metadata.name')}`).toBe(
        'ambit-system',
      );
    }
  });

  it('controller: 2 replicas preferring different nodes, a PDB, probes and Service on 15012/15014', () => {
    const d = defaults.get('Deployment', 'ambit-controller');
    expect(at(d, 'spec.replicas')).toBe(2);
    const anti = at(d, 'spec.template.spec.affinity.podAntiAffinity');
    expect(
      at(anti, 'preferredDuringSchedulingIgnoredDuringExecution.0.podAffinityTerm.topologyKey'),
    ).toBe('kubernetes.io/hostname');
    expect(at(anti, 'requiredDuringSchedulingIgnoredDuringExecution')).toBeUndefined();
    expect(at(defaults.get('PodDisruptionBudget', 'ambit-controller'), 'spec.minAvailable')).toBe(
      1,
    );
    const c = defaults.container('Deployment', 'ambit-controller');
    expect(ports(c)).toEqual([15012, 15014]);
    expect(at(c, 'readinessProbe.httpGet')).toEqual({ path: '/healthz/ready', port: 15014 });
    expect(at(c, 'livenessProbe.httpGet')).toEqual({ path: '/healthz/live', port: 15014 });
    expect(at(c, 'resources.requests.cpu')).toBe('100m');
    const svc = defaults.get('Service', 'ambit-controller');
    expect(list(svc, 'spec.ports').map((p) => p.port)).toEqual([15012, 15014]);
    expect(at(svc, 'spec.selector')).toEqual(at(d, 'spec.selector.matchLabels'));
  });

  it('controller: non-root, read-only, no capabilities; flags the binary parses', () => {
    expect(at(defaults.pod('Deployment', 'ambit-controller'), 'securityContext.runAsNonRoot')).toBe(
      true,
    );
    const c = defaults.container('Deployment', 'ambit-controller');
    expect(at(c, 'securityContext')).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
    expect(flag(c, 'trust-domain')).toBe('cluster.local');
    expect(flag(c, 'ca-secret')).toBe('ambit-ca');
    expect(flag(c, 'ztunnel-sa')).toBe('ambit-system/ztunnel');
    expect(flag(c, 'waypoint-image')).toBe(`ghcr.io/ambit-mesh/waypoint:${APP_VERSION}`);
    expect(flag(c, 'waypoint-controller-address')).toBe('ambit-controller.ambit-system.svc:15012');
    const env = Object.fromEntries(
      list(c, 'env').map((e): [string, unknown] => [
        str(e, 'name'),
        at(e, 'valueFrom.fieldRef.fieldPath'),
      ]),
    );
    expect(env).toEqual({ POD_NAME: 'metadata.name', POD_NAMESPACE: 'metadata.namespace' });
  });

  it('images are pinned to the chart appVersion with IfNotPresent', () => {
    for (const [kind, name, image] of [
      ['Deployment', 'ambit-controller', 'controller'],
      ['DaemonSet', 'ztunnel', 'ztunnel'],
      ['DaemonSet', 'ambit-node-agent', 'node-agent'],
    ] as const) {
      const c = defaults.container(kind, name);
      expect(c.image).toBe(`ghcr.io/ambit-mesh/${image}:${APP_VERSION}`);
      expect(c.imagePullPolicy).toBe('IfNotPresent');
    }
  });

  it('ztunnel: NET_ADMIN and SYS_ADMIN only, not privileged, no host network or PID', () => {
    const pod = defaults.pod('DaemonSet', 'ztunnel');
    expect(pod.hostNetwork).toBeUndefined();
    expect(pod.hostPID).toBeUndefined();
    expect(at(defaults.container('DaemonSet', 'ztunnel'), 'securityContext')).toMatchObject({
      privileged: false,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'], add: ['NET_ADMIN', 'SYS_ADMIN'] },
    });
  });

  it('ztunnel: talks to the controller with a projected ambit-ca token, never the API server', () => {
    const pod = defaults.pod('DaemonSet', 'ztunnel');
    expect(pod.serviceAccountName).toBe('ztunnel');
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(at(defaults.get('ServiceAccount', 'ztunnel'), 'automountServiceAccountToken')).toBe(
      false,
    );
    const token = named(list(pod, 'volumes'), 'ambit-token');
    expect(at(token, 'projected.sources.0.serviceAccountToken')).toMatchObject({
      audience: 'ambit-ca',
      path: 'ambit-token',
    });
    const c = defaults.container('DaemonSet', 'ztunnel');
    // ztunnel's defaults: --token-path /var/run/secrets/tokens/ambit-token,
    // --roots-file /var/run/secrets/ambit/root-cert.pem
    expect(mountPath(c, 'ambit-token')).toBe('/var/run/secrets/tokens');
    expect(mountPath(c, 'ambit-roots')).toBe('/var/run/secrets/ambit');
    expect(at(named(list(pod, 'volumes'), 'ambit-roots'), 'configMap.name')).toBe(
      'ambit-root-cert',
    );
    expect(flag(c, 'controller')).toBe('ambit-controller.ambit-system.svc:15012');
    for (const b of [...defaults.all('ClusterRoleBinding'), ...defaults.all('RoleBinding')]) {
      expect(list(b, 'subjects').map((s) => s.name)).not.toContain('ztunnel');
    }
  });

  it('ztunnel: readiness 15021 and metrics 15020 for the kubelet and Prometheus; drain fits the grace period', () => {
    const ds = defaults.get('DaemonSet', 'ztunnel');
    const pod = defaults.pod('DaemonSet', 'ztunnel');
    const c = defaults.container('DaemonSet', 'ztunnel');
    expect(at(c, 'readinessProbe.httpGet')).toEqual({ path: '/healthz/ready', port: 15021 });
    expect(flag(c, 'readiness-addr')).toBe('0.0.0.0:15021');
    expect(flag(c, 'metrics-addr')).toBe('0.0.0.0:15020');
    expect(flag(c, 'admin-addr')).toBe('127.0.0.1:15000');
    expect(ports(c)).toEqual([15020, 15021]);
    expect(at(ds, 'spec.template.metadata.annotations')).toMatchObject({
      'prometheus.io/scrape': 'true',
      'prometheus.io/port': '15020',
    });
    expect(flag(c, 'drain-deadline')).toBe('30s');
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(30);
    expect(pod.priorityClassName).toBe('system-node-critical');
    expect(pod.tolerations).toEqual([{ operator: 'Exists' }]);
  });

  it('node agent: privileged, host network, node-critical, every node; the host paths it needs', () => {
    const pod = defaults.pod('DaemonSet', 'ambit-node-agent');
    expect(pod.hostNetwork).toBe(true);
    expect(pod.dnsPolicy).toBe('ClusterFirstWithHostNet');
    expect(pod.hostPID).toBeUndefined();
    expect(pod.priorityClassName).toBe('system-node-critical');
    expect(pod.tolerations).toEqual([{ operator: 'Exists' }]);
    const c = defaults.container('DaemonSet', 'ambit-node-agent');
    expect(at(c, 'securityContext.privileged')).toBe(true);
    const paths = list(pod, 'volumes')
      .map((v) => str(v, 'hostPath.path'))
      .filter((p) => p !== '')
      .sort();
    expect(paths).toEqual([
      '/etc/cni/net.d',
      '/opt/cni/bin',
      '/var/lib/ambit',
      '/var/run/ambit',
      '/var/run/netns',
    ]);
    expect(c.args).toEqual([
      'run',
      '--config=/etc/ambit/agent.yaml',
      '--node-name=$(NODE_NAME)',
      '--daemonset=ambit-system/ambit-node-agent',
    ]);
  });

  it('node agent: stopping can be an uninstall, so its grace period covers releasing every pod', () => {
    expect(defaults.pod('DaemonSet', 'ambit-node-agent').terminationGracePeriodSeconds).toBe(60);
    const r = render({ 'nodeAgent.terminationGracePeriodSeconds': 180 });
    expect(r.pod('DaemonSet', 'ambit-node-agent').terminationGracePeriodSeconds).toBe(180);
    expect(() => render({ 'nodeAgent.terminationGracePeriodSeconds': 1 })).toThrow(
      /terminationGracePeriodSeconds/,
    );
  });

  it('the sockets ambit-cni, the agent and ztunnel share are the same host paths in every container', () => {
    const cfg = agentConfig(defaults);
    const z = defaults.container('DaemonSet', 'ztunnel');
    const a = defaults.container('DaemonSet', 'ambit-node-agent');
    expect(cfg.cniSocket).toBe('/var/run/ambit/cni.sock');
    expect(flag(z, 'inpod-socket')).toBe(cfg.ztunnelSocket);
    for (const [ds, c] of [
      ['ztunnel', z],
      ['ambit-node-agent', a],
    ] as const) {
      const pod = defaults.pod('DaemonSet', ds);
      expect(mountPath(c, 'run')).toBe(hostPath(pod, 'run'));
      expect(str(cfg, 'ztunnelSocket').startsWith(`${mountPath(c, 'run')}/`)).toBe(true);
      expect(named(list(c, 'volumeMounts'), 'netns')).toMatchObject({
        mountPath: '/var/run/netns',
        mountPropagation: 'HostToContainer',
      });
    }
    // The agent writes into the mounted CNI dirs and keeps its state on the host.
    expect(mountPath(a, 'cni-conf')).toBe(at(cfg, 'install.cniConfDir'));
    expect(mountPath(a, 'cni-bin')).toBe(at(cfg, 'install.cniBinDir'));
    expect(str(cfg, 'stateFile').startsWith(`${mountPath(a, 'state')}/`)).toBe(true);
  });
});

describe('RBAC: least privilege', () => {
  it('no wildcards, and delete only on the root-cert ConfigMaps the controller publishes and (for the uninstall hook) the node agent DaemonSets', () => {
    for (const role of [...defaults.all('ClusterRole'), ...defaults.all('Role')]) {
      for (const rule of list(role, 'rules')) {
        const words = [
          ...strings(rule, 'apiGroups'),
          ...strings(rule, 'resources'),
          ...strings(rule, 'verbs'),
        ];
        expect(words, str(role, 'metadata.name')).not.toContain('*');
        const rootCertOnly =
          strings(rule, 'resources').join() === 'configmaps' &&
          strings(rule, 'resourceNames').join() === 'ambit-root-cert';
        const agentDaemonSetsOnly =
          str(role, 'metadata.name') === 'ambit-pre-delete' &&
          strings(rule, 'resources').join() === 'daemonsets' &&
          strings(rule, 'resourceNames').every((n) => n.startsWith('ambit-node-agent'));
        if (!rootCertOnly && !agentDaemonSetsOnly) {
          expect(strings(rule, 'verbs'), str(role, 'metadata.name')).not.toContain('delete');
        }
        expect(strings(rule, 'verbs'), str(role, 'metadata.name')).not.toContain(
          'deletecollection',
        );
      }
    }
  });

  it('controller: reads what it watches, writes waypoint objects, statuses, root ConfigMaps, TokenReviews', () => {
    const cr = rules(defaults, 'ClusterRole', 'ambit-controller');
    for (const r of ['namespaces', 'pods', 'services', 'nodes']) {
      expect(verbs(cr, '', r)).toEqual(expect.arrayContaining(['list', 'watch']));
    }
    expect(verbs(cr, '', 'pods')).toEqual(['get', 'list', 'watch']);
    expect(verbs(cr, 'discovery.k8s.io', 'endpointslices')).toEqual(['get', 'list', 'watch']);
    expect(verbs(cr, 'ambit.dev', 'waypoints')).toEqual(['get', 'list', 'watch']);
    expect(verbs(cr, 'ambit.dev', 'authorizationpolicies/status')).toEqual([
      'get',
      'patch',
      'update',
    ]);
    expect(verbs(cr, 'gateway.networking.k8s.io', 'httproutes/status')).toEqual([
      'get',
      'patch',
      'update',
    ]);
    expect(verbs(cr, 'apps', 'deployments')).toEqual(['create', 'get', 'list', 'patch', 'watch']);
    expect(verbs(cr, 'authentication.k8s.io', 'tokenreviews')).toEqual(['create']);
    expect(verbs(cr, '', 'secrets')).toEqual([]); // Secrets only in its own namespace (Role)
    const cm = cr.find((r) => strings(r, 'resources').includes('configmaps') && r.resourceNames);
    expect(cm?.resourceNames).toEqual(['ambit-root-cert']);
    const role = rules(defaults, 'Role', 'ambit-controller');
    expect(verbs(role, 'coordination.k8s.io', 'leases')).toEqual(['create', 'get', 'update']);
    expect(verbs(role, '', 'secrets')).toEqual(['create', 'get']);
  });

  it('node agent: reads its own DaemonSet only (by name, in the release namespace), to tell an uninstall', () => {
    const role = rules(defaults, 'Role', 'ambit-node-agent');
    expect(role).toEqual([
      {
        apiGroups: ['apps'],
        resources: ['daemonsets'],
        resourceNames: ['ambit-node-agent'],
        verbs: ['get', 'list', 'watch'],
      },
    ]);
    expect(at(defaults.get('Role', 'ambit-node-agent'), 'metadata.namespace')).toBe('ambit-system');
    const binding = defaults.get('RoleBinding', 'ambit-node-agent');
    expect(at(binding, 'roleRef')).toEqual({
      apiGroup: 'rbac.authorization.k8s.io',
      kind: 'Role',
      name: 'ambit-node-agent',
    });
    expect(list(binding, 'subjects')).toEqual([
      { kind: 'ServiceAccount', name: 'ambit-node-agent', namespace: 'ambit-system' },
    ]);
    // No cluster-wide right on DaemonSets.
    expect(verbs(rules(defaults, 'ClusterRole', 'ambit-node-agent'), 'apps', 'daemonsets')).toEqual(
      [],
    );
  });

  it('helm uninstall runs a pre-delete hook that may only get and delete the agent DaemonSets, by name', () => {
    const r = render({
      nodeGroups: [
        { name: 'n1', nodeLabel: { key: 'kubernetes.io/hostname', values: ['node-1'] } },
      ],
    });
    for (const kind of ['ServiceAccount', 'Role', 'RoleBinding', 'Job']) {
      const o = r.get(kind, 'ambit-pre-delete');
      expect(at(o, 'metadata.annotations')).toMatchObject({
        'helm.sh/hook': 'pre-delete',
        'helm.sh/hook-delete-policy': 'before-hook-creation,hook-succeeded,hook-failed',
      });
    }
    expect(rules(r, 'Role', 'ambit-pre-delete')).toEqual([
      {
        apiGroups: ['apps'],
        resources: ['daemonsets'],
        resourceNames: ['ambit-node-agent', 'ambit-node-agent-n1'],
        verbs: ['get', 'delete'],
      },
    ]);
    expect(list(r.get('RoleBinding', 'ambit-pre-delete'), 'subjects')).toEqual([
      { kind: 'ServiceAccount', name: 'ambit-pre-delete', namespace: 'ambit-system' },
    ]);
    const job = r.get('Job', 'ambit-pre-delete');
    const pod = at(job, 'spec.template.spec') as Obj;
    expect(str(pod, 'serviceAccountName')).toBe('ambit-pre-delete');
    expect(at(pod, 'securityContext.runAsNonRoot')).toBe(true);
    const c = list(pod, 'containers')[0]!;
    expect(str(c, 'image')).toBe(`ghcr.io/ambit-mesh/node-agent:${APP_VERSION}`);
    // The arguments `ambit-node-agent pre-delete` parses (pre-delete.k8s.test.ts).
    expect(strings(c, 'args')).toEqual([
      'pre-delete',
      '--namespace=ambit-system',
      '--daemonset=ambit-node-agent',
      '--daemonset=ambit-node-agent-n1',
      '--timeout-seconds=120',
    ]);
    expect(at(c, 'securityContext.capabilities.drop')).toEqual(['ALL']);
    // The Job outlives its wait, so helm sees the hook finish rather than the deadline.
    expect(Number(at(job, 'spec.activeDeadlineSeconds'))).toBeGreaterThan(120);
    expect(render({ 'nodeAgent.preDeleteHook.enabled': false }).all('Job')).toEqual([]);
  });

  it('node agent: pods and namespaces only; its patches limited by the admission policy', () => {
    const cr = rules(defaults, 'ClusterRole', 'ambit-node-agent');
    expect(cr).toHaveLength(2);
    expect(verbs(cr, '', 'pods')).toEqual(['get', 'list', 'patch', 'watch']);
    expect(verbs(cr, '', 'namespaces')).toEqual(['get', 'list', 'watch']);
    const vap = defaults.get('ValidatingAdmissionPolicy', 'ambit-node-agent');
    expect(str(vap, 'spec.matchConditions.0.expression')).toContain(
      "'system:serviceaccount:ambit-system:ambit-node-agent'",
    );
    expect(
      at(defaults.get('ValidatingAdmissionPolicyBinding', 'ambit-node-agent'), 'spec'),
    ).toEqual({
      policyName: 'ambit-node-agent',
      validationActions: ['Deny'],
    });
    const off = render({ 'nodeAgent.admissionPolicy.enabled': false });
    expect(off.all('ValidatingAdmissionPolicy')).toEqual([]);
  });
});

describe('value combinations', () => {
  it('custom trust domain reaches the controller and every ztunnel', () => {
    const r = render({ trustDomain: 'prod.example.com' });
    expect(flag(r.container('Deployment', 'ambit-controller'), 'trust-domain')).toBe(
      'prod.example.com',
    );
    expect(flag(r.container('DaemonSet', 'ztunnel'), 'trust-domain')).toBe('prod.example.com');
  });

  it('operator-provided CA Secret: the controller reads that Secret and may create none', () => {
    const r = render({ 'ca.existingSecret': 'corp-intermediate' });
    expect(flag(r.container('Deployment', 'ambit-controller'), 'ca-secret')).toBe(
      'corp-intermediate',
    );
    const role = rules(r, 'Role', 'ambit-controller');
    expect(verbs(role, '', 'secrets')).toEqual(['get']);
    const secrets = role.find((x) => strings(x, 'resources').includes('secrets'));
    expect(secrets?.resourceNames).toEqual(['corp-intermediate']);
  });

  it('workload certificate TTL: ca.workloadCertTtl becomes the controller flag; bad durations are refused', () => {
    expect(flag(defaults.container('Deployment', 'ambit-controller'), 'workload-cert-ttl')).toBe(
      undefined,
    );
    const r = render({ 'ca.workloadCertTtl': '90s' });
    expect(flag(r.container('Deployment', 'ambit-controller'), 'workload-cert-ttl')).toBe('90s');
    expect(() => render({ 'ca.workloadCertTtl': '1d' })).toThrow(/workloadCertTtl/);
  });

  it('image overrides: registry and tag for all, a full repository for one, Never for local images', () => {
    const r = render({
      'image.registry': 'localhost/ambit',
      'image.tag': 'dev-1',
      'image.pullPolicy': 'Never',
      'ztunnel.image.repository': 'registry.example/zt',
      'ztunnel.image.tag': 'v9',
    });
    expect(r.container('Deployment', 'ambit-controller').image).toBe(
      'localhost/ambit/controller:dev-1',
    );
    expect(r.container('DaemonSet', 'ambit-node-agent').image).toBe(
      'localhost/ambit/node-agent:dev-1',
    );
    expect(r.container('DaemonSet', 'ztunnel').image).toBe('registry.example/zt:v9');
    expect(r.container('DaemonSet', 'ztunnel').imagePullPolicy).toBe('Never');
    expect(flag(r.container('Deployment', 'ambit-controller'), 'waypoint-image')).toBe(
      'localhost/ambit/waypoint:dev-1',
    );
  });

  it('resources and drain deadline: containers get them, the grace period follows the drain', () => {
    const r = render({
      'ztunnel.resources': { requests: { cpu: '1', memory: '256Mi' }, limits: { memory: '2Gi' } },
      'controller.resources': { requests: { cpu: '250m' } },
      'ztunnel.drainDeadlineSeconds': 120,
    });
    expect(r.container('DaemonSet', 'ztunnel').resources).toEqual({
      requests: { cpu: '1', memory: '256Mi' },
      limits: { memory: '2Gi' },
    });
    // Helm merges maps: the defaults not overridden stay (null removes one).
    expect(r.container('Deployment', 'ambit-controller').resources).toEqual({
      requests: { cpu: '250m', memory: '192Mi' },
      limits: { memory: '1Gi' },
    });
    expect(flag(r.container('DaemonSet', 'ztunnel'), 'drain-deadline')).toBe('120s');
    expect(r.pod('DaemonSet', 'ztunnel').terminationGracePeriodSeconds).toBe(125);
  });

  it('STRICT mesh default: the PeerAuthentication ambit-system/default', () => {
    const pa = render({ meshMtlsMode: 'STRICT' }).get('PeerAuthentication', 'default');
    expect(pa.apiVersion).toBe('ambit.dev/v1alpha1');
    expect(at(pa, 'metadata.namespace')).toBe('ambit-system');
    expect(pa.spec).toEqual({ mtls: { mode: 'STRICT' } });
    // Its CRD is in the same release: before the CRD exists (first install, helm template) it is a
    // post-install hook that the release adopts at the next upgrade.
    expect(at(pa, 'metadata.annotations')).toEqual({
      'helm.sh/hook': 'post-install',
      'helm.sh/hook-delete-policy': 'before-hook-creation',
      'meta.helm.sh/release-name': 'ambit',
      'meta.helm.sh/release-namespace': 'ambit-system',
    });
    expect(at(pa, 'metadata.labels')).toMatchObject({ 'app.kubernetes.io/managed-by': 'Helm' });
  });

  it('one controller replica: no PodDisruptionBudget that would block every drain', () => {
    expect(render({ 'controller.replicas': 1 }).all('PodDisruptionBudget')).toEqual([]);
  });

  it('node groups: their own DaemonSets and paths on their nodes, the default ones elsewhere', () => {
    const r = render({
      nodeGroups: [
        {
          name: 'n1',
          nodeLabel: { key: 'kubernetes.io/hostname', values: ['node-1'] },
          hostPaths: { runDir: '/srv/n1/run', cniConfDir: '/srv/n1/net.d' },
        },
      ],
    });
    const terms =
      'affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms';
    const sel = (op: string) => [
      { matchExpressions: [{ key: 'kubernetes.io/hostname', operator: op, values: ['node-1'] }] },
    ];
    for (const name of ['ztunnel', 'ambit-node-agent']) {
      expect(at(r.pod('DaemonSet', name), terms)).toEqual(sel('NotIn'));
      expect(at(r.pod('DaemonSet', `${name}-n1`), terms)).toEqual(sel('In'));
      // Selectors of the two DaemonSets must not overlap (each owns its pods).
      expect(at(r.get('DaemonSet', name), 'spec.selector')).not.toEqual(
        at(r.get('DaemonSet', `${name}-n1`), 'spec.selector'),
      );
    }
    expect(agentConfig(r, 'ambit-node-agent-n1').cniSocket).toBe('/srv/n1/run/cni.sock');
    expect(flag(r.container('DaemonSet', 'ztunnel-n1'), 'inpod-socket')).toBe(
      '/srv/n1/run/ztunnel.sock',
    );
    expect(flag(r.container('DaemonSet', 'ambit-node-agent-n1'), 'daemonset')).toBe(
      'ambit-system/ambit-node-agent-n1',
    );
    expect(rules(r, 'Role', 'ambit-node-agent')[0]?.resourceNames).toEqual([
      'ambit-node-agent',
      'ambit-node-agent-n1',
    ]);
    const agentPod = r.pod('DaemonSet', 'ambit-node-agent-n1');
    expect(hostPath(agentPod, 'cni-conf')).toBe('/srv/n1/net.d');
    expect(hostPath(agentPod, 'cni-bin')).toBe('/opt/cni/bin'); // inherited from hostPaths
  });
});

describe('refusals', () => {
  it('another namespace than ambit-system is refused with the reason', () => {
    expect(() => render({}, { namespace: 'mesh' })).toThrow(
      /install Ambit into the namespace ambit-system/,
    );
  });

  it('values outside the schema are refused before rendering', () => {
    expect(() => render({ meshMtlsMode: 'strict' })).toThrow(/meshMtlsMode/);
    expect(() => render({ 'ztunnel.privileged': true })).toThrow(
      /additional properties 'privileged'/,
    );
    expect(() => render({ 'hostPaths.runDir': 'var/run/ambit' })).toThrow(/runDir/);
    expect(() => render({ trustDomain: 'Bad Domain' })).toThrow(/trustDomain/);
  });
});
