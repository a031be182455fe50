// The HTTPRoute `retry` field (GEP-1731) is in the Gateway API's experimental channel only; the
// local cluster installs the standard channel (e2e/scripts/addons.sh), whose schema prunes
// `retry` away, and a kind cluster has no Gateway API CRDs at all. The waypoint scenario needs it,
// so it installs the experimental HTTPRoute CRD of the version e2e/k8s-build/gateway-api pins (a
// superset of the standard schema: stored routes stay valid). A later `cluster.sh up` applies the
// standard channel again.
import { join } from 'node:path';
import type { Kubectl } from '../kubectl.ts';
import { runCommand } from '../providers/run-command.ts';

const HTTPROUTE_CRD = 'httproutes.gateway.networking.k8s.io';
const repoRoot = new URL('../../..', import.meta.url).pathname;

interface Crd {
  metadata: { annotations?: Record<string, string> };
  spec: {
    versions: {
      name: string;
      schema?: {
        openAPIV3Schema?: {
          properties?: { spec?: { properties?: { rules?: { items?: { properties?: object } } } } };
        };
      };
    }[];
  };
}

/** True when the HTTPRoute CRD is installed and its v1 schema has `spec.rules[].retry`. */
export async function httpRouteHasRetry(kubectl: Kubectl): Promise<boolean> {
  const out = await kubectl('get', 'crd', HTTPROUTE_CRD, '--ignore-not-found', '-o', 'json');
  if (out.trim() === '') return false;
  const crd = JSON.parse(out) as Crd;
  const v1 = crd.spec.versions.find((v) => v.name === 'v1');
  const rule = v1?.schema?.openAPIV3Schema?.properties?.spec?.properties?.rules?.items?.properties;
  return rule !== undefined && 'retry' in rule;
}

/**
 * Makes sure the HTTPRoute CRD accepts `retry`: when it does not, applies the experimental-channel
 * HTTPRoute CRD from the sigs.k8s.io/gateway-api module the local cluster's CRDs come from
 * (e2e/k8s-build/gateway-api; `go mod download` finds it in the module cache, or fetches it where
 * there is a network, as on CI's kind runner). Throws when Go or the module cannot be had.
 */
export async function ensureHttpRouteRetry(kubectl: Kubectl): Promise<void> {
  if (await httpRouteHasRetry(kubectl)) return;
  const env = {
    ...process.env,
    PATH: `/usr/local/go/bin:${process.env.PATH ?? ''}`,
    GOFLAGS: '-buildvcs=false',
  };
  let dir: string;
  try {
    const out = await runCommand('go', ['mod', 'download', '-json', 'sigs.k8s.io/gateway-api'], {
      cwd: join(repoRoot, 'e2e/k8s-build/gateway-api'),
      env,
    });
    dir = (JSON.parse(out) as { Dir: string }).Dir;
  } catch (err) {
    throw new Error(
      `the HTTPRoute CRD is missing or has no retry field (standard channel), and the Gateway API module to take the experimental one from is not available: ${String(err)}`,
      { cause: err },
    );
  }
  const file = join(dir, 'config/crd/experimental/gateway.networking.k8s.io_httproutes.yaml');
  await kubectl('apply', '--server-side', '--force-conflicts', '-f', file);
  await kubectl('wait', '--for=condition=Established', '--timeout=60s', `crd/${HTTPROUTE_CRD}`);
  // The API server's schema cache follows the CRD a moment later.
  for (let i = 0; i < 50 && !(await httpRouteHasRetry(kubectl)); i++)
    await new Promise((r) => setTimeout(r, 200));
}
