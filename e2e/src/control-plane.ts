// Starts and stops a Kubernetes control plane (etcd, kube-apiserver, controller-manager,
// scheduler) as local processes through e2e/scripts/control-plane.sh, on 127.0.0.1 and free
// ports, in its own state directory, so it never collides with the e2e cluster or another run.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const e2eRoot = new URL('..', import.meta.url).pathname.replace(/\/$/, '');
export const scriptsDir = join(e2eRoot, 'scripts');

export interface ControlPlane {
  /** Admin (system:masters) kubeconfig. */
  readonly kubeconfig: string;
  /** https://127.0.0.1:<port> */
  readonly server: string;
  /** State directory; logs are under `${dir}/logs`. */
  readonly dir: string;
  /** The cached kubectl matching the server. */
  readonly kubectl: string;
  stop(): Promise<void>;
}

export interface ControlPlaneOptions {
  /** Keep the state directory (certificates, logs) after stop. Default false. */
  keepDir?: boolean;
}

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === 'object') resolve(address.port);
        else reject(new Error('no port'));
      });
    });
  });
}

/** A base port such that base..base+3 are free (etcd client/peer, controller-manager, scheduler). */
async function freePortBase(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20000 + Math.floor(Math.random() * 20000);
    const ok = await Promise.all([0, 1, 2, 3].map((i) => bindable(base + i)));
    if (ok.every(Boolean)) return base;
  }
  throw new Error('control plane: no four consecutive free ports on 127.0.0.1');
}

/** Builds the binaries if the cache lacks them (slow once), then starts a control plane. */
export async function startControlPlane(options: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const dir = mkdtempSync(join(tmpdir(), 'ambit-kube-'));
  const port = await freePort();
  const env = {
    ...process.env,
    AMBIT_E2E_DIR: dir,
    AMBIT_E2E_ADDR: '127.0.0.1',
    AMBIT_E2E_PORT: String(port),
    AMBIT_E2E_PORT_BASE: String(await freePortBase()),
  };
  const script = join(scriptsDir, 'control-plane.sh');
  const maxBuffer = 16 * 1024 * 1024;
  await run(join(scriptsDir, 'build-k8s.sh'), ['etcd', 'kubernetes'], { env, maxBuffer });
  const where = await run(join(scriptsDir, 'build-k8s.sh'), ['--where', 'kubernetes'], { env });
  const kubectl = join(where.stdout.trim(), 'kubectl');
  const stop = async (): Promise<void> => {
    await run(script, ['down'], { env });
    if (!options.keepDir) rmSync(dir, { recursive: true, force: true });
  };
  try {
    await run(script, ['up'], { env, maxBuffer });
  } catch (err) {
    await run(script, ['down'], { env }).catch(() => undefined); // keeps the logs
    throw new Error(`control plane did not start (logs in ${dir}/logs)`, { cause: err });
  }
  return {
    kubeconfig: join(dir, 'admin.kubeconfig'),
    server: `https://127.0.0.1:${port}`,
    dir,
    kubectl,
    stop,
  };
}
