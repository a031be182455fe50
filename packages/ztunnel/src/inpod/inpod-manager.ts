// ztunnel's side of the in-pod handoff (InpodHandlers for @ambit/core/inpod/server): the set of
// captured pods, each with its listeners inside its netns (captured-pod.ts).
//   snapshot — the agent's full set: pods not in it are released, pods whose facts changed are
//              re-captured, the others are left alone (their live connections too);
//   add      — capture one pod; an add for a held uid replaces it (identical facts: no-op);
//   del      — release one pod (unknown uids are fine).
// Everything runs one at a time, including re-captures after a mesh-state change moved a pod to
// another identity. A pod that cannot be captured makes its message fail (NACK) with the reason.

import { InpodCaptureError } from '@ambit/core/errors';
import type { SpiffeId } from '@ambit/core/identity/spiffe-id';
import type { TlsIdentity } from '@ambit/core/identity/tls-identity';
import type { InpodPod } from '@ambit/core/inpod/protocol';
import type { InpodHandlers } from '@ambit/core/inpod/server';
import { CapturedPod, identityOfPod, type CapturedPodDeps } from './captured-pod.ts';

function samePod(a: InpodPod, b: InpodPod): boolean {
  return (
    a.uid === b.uid &&
    a.netns === b.netns &&
    a.namespace === b.namespace &&
    a.name === b.name &&
    a.serviceAccount === b.serviceAccount &&
    a.ips.length === b.ips.length &&
    a.ips.every((ip, i) => ip === b.ips[i])
  );
}

/** How long a release may take beyond its grace before the queue moves on. */
export const RELEASE_DEADLINE_MS = 5_000;

export class InpodManager implements InpodHandlers {
  readonly #deps: CapturedPodDeps;
  readonly #pods = new Map<string, CapturedPod>();
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;

  constructor(deps: CapturedPodDeps) {
    this.#deps = deps;
  }

  /** The pods captured now. */
  get pods(): readonly CapturedPod[] {
    return [...this.#pods.values()];
  }

  /** HBONE pool sessions and streams of every captured pod (for /metrics). */
  poolStats(): { sessions: number; streams: number } {
    let sessions = 0;
    let streams = 0;
    for (const p of this.#pods.values()) {
      const s = p.pool.stats();
      sessions += s.sessions;
      streams += s.streams;
    }
    return { sessions, streams };
  }

  /** Identities of the captured pods (certificates to keep). */
  identities(): Set<SpiffeId> {
    return new Set([...this.#pods.values()].map((p) => p.identity));
  }

  snapshot(pods: readonly InpodPod[]): Promise<void> {
    return this.#serial(async () => {
      const wanted = new Map(pods.map((p) => [p.uid, p]));
      for (const [uid, held] of this.#pods) {
        const next = wanted.get(uid);
        if (next === undefined || !samePod(held.pod, next)) await this.#release(uid, 'snapshot');
      }
      const failures: string[] = [];
      for (const p of pods) {
        if (this.#pods.has(p.uid)) continue;
        try {
          await this.#capture(p);
        } catch (err) {
          failures.push(`${p.namespace}/${p.name}: ${(err as Error).message}`);
        }
      }
      if (failures.length > 0) {
        throw new InpodCaptureError(
          `could not capture ${failures.length} of ${pods.length} pods: ${failures.join('; ')}`,
        );
      }
    });
  }

  add(pod: InpodPod): Promise<void> {
    return this.#serial(async () => {
      const held = this.#pods.get(pod.uid);
      if (held && samePod(held.pod, pod)) return;
      if (held) await this.#release(pod.uid, 'replaced');
      await this.#capture(pod);
    });
  }

  del(uid: string): Promise<void> {
    return this.#serial(() => this.#release(uid, 'del'));
  }

  /** Certificate rotation: captured pods with this identity present the new one. */
  rotated(id: SpiffeId, identity: TlsIdentity): void {
    for (const p of this.#pods.values()) if (p.identity === id) p.updateIdentity(identity);
  }

  /** The mesh state changed: re-capture pods whose identity it changed. */
  stateChanged(): Promise<void> {
    return this.#serial(async () => {
      for (const [uid, p] of this.#pods) {
        if (identityOfPod(this.#deps.state(), p.pod) === p.identity) continue;
        this.#deps.log.info('captured pod changed identity: re-opening its listeners', {
          pod: `${p.pod.namespace}/${p.pod.name}`,
          from: p.identity,
        });
        await this.#release(uid, 'identity changed');
        try {
          await this.#capture(p.pod);
        } catch (err) {
          this.#deps.log.error('re-capturing a pod failed; its traffic is refused', {
            pod: `${p.pod.namespace}/${p.pod.name}`,
            err,
          });
        }
      }
    });
  }

  /** Releases every pod (shutdown: live HBONE streams get `graceMs`); later messages fail. */
  close(graceMs = 0): Promise<void> {
    return this.#serial(async () => {
      this.#closed = true;
      await Promise.all(
        [...this.#pods.keys()].map((uid) => this.#release(uid, 'shutdown', graceMs)),
      );
    });
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #capture(pod: InpodPod): Promise<void> {
    if (this.#closed) throw new InpodCaptureError('ztunnel is shutting down');
    let p: CapturedPod;
    try {
      p = await CapturedPod.open(pod, this.#deps);
    } catch (err) {
      const e = err as Error & { code?: string };
      throw new InpodCaptureError(
        `pod ${pod.namespace}/${pod.name} (netns ${pod.netns}): ${e.code ? `[${e.code}] ` : ''}${e.message}`,
        { cause: err },
      );
    }
    this.#pods.set(pod.uid, p);
    this.#deps.log.info('pod captured: listening inside its netns', {
      pod: `${pod.namespace}/${pod.name}`,
      uid: pod.uid,
      ips: pod.ips,
      identity: p.identity,
      netns: pod.netns,
    });
  }

  /**
   * Closes the pod's listeners and waits for its connections to end, but never longer than its
   * grace plus RELEASE_DEADLINE_MS: every agent message waits in the same queue, so one release
   * that does not finish must not stop ztunnel from serving the node (seen in the e2e suite: a
   * del that never completed left the agent's handshakes unanswered and no pod on that node
   * could start). What is left closes in the background.
   */
  async #release(uid: string, why: string, graceMs?: number): Promise<void> {
    const p = this.#pods.get(uid);
    if (!p) return;
    this.#pods.delete(uid);
    const pod = `${p.pod.namespace}/${p.pod.name}`;
    const limitMs = (graceMs ?? this.#deps.releaseGraceMs ?? 0) + RELEASE_DEADLINE_MS;
    let timer: NodeJS.Timeout | undefined;
    const finished = await Promise.race([
      p.close(graceMs).then(() => true),
      new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), limitMs))),
    ]).finally(() => clearTimeout(timer));
    if (!finished) {
      this.#deps.log.error('pod release did not finish in time; going on without waiting', {
        pod,
        uid,
        why,
        limitMs,
      });
      return;
    }
    this.#deps.log.info('pod released: its listeners are closed', { pod, uid, why });
  }
}
