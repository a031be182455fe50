// The node agent: answers ambit-cni (CNI ADD/DEL/CHECK), decides which pods are captured,
// programs their netns rules, hands them to ztunnel, and keeps all of that true when namespaces
// are labelled or unlabelled and across its own restarts.
//
// Every operation runs one at a time (a promise queue): CNI events, reconciles and the node probe
// rules never interleave, so the state file, the rules and ztunnel's set move together.
// Order of enrolment: rules first, then ztunnel's ACK, then "enrolled" to the plugin; a failure
// rolls the rules back, so a pod is never left captured towards a ztunnel that does not know it.

import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import type { MeshError } from '@ambit/core/errors';
import { InpodClient } from '@ambit/core/inpod/client';
import type { InpodPod } from '@ambit/core/inpod/protocol';
import { createLogger, type Logger } from '@ambit/core/log';
import { decideAmbient, namespaceIsAmbient } from '@ambit/core/mesh/ambient';
import { CNI_WIRE_VERSION, type CniWireReply, type CniWireRequest } from '../cni-wire.ts';
import { loadAgentState, saveAgentState, type KnownPod } from './agent-state.ts';
import {
  nodeProbeScript,
  podRulesScript,
  POD_TABLE,
  removePodRulesScript,
  removeNodeProbeScript,
  removeReplyRoutingCommands,
  replyRoutingCommands,
} from './pod-rules.ts';
import type { PodFacts, PodSource } from './pod-source.ts';
import { ipRunner, type IpRunner } from './run-ip.ts';
import { nftRunner, type NftRunner } from './run-nft.ts';

export interface NodeAgentOptions {
  /** This node's name (sent to ztunnel, in logs). */
  node: string;
  source: PodSource;
  /** The agent's state file (known pods, what ztunnel was given). */
  stateFile: string;
  ztunnel: { socketPath: string; ackTimeoutMs?: number };
  /**
   * Node-side probe SNAT (pod-rules.ts nodeProbeScript): off when undefined; `{}` programs it in
   * the agent's own netns (the node's, as the agent runs with hostNetwork), `{netns}` in another.
   */
  probeSnat?: { netns?: string };
  nft?: NftRunner;
  ip?: IpRunner;
  logger?: Logger;
  /** How many pods releaseAll() works on at once (default 4). */
  releaseConcurrency?: number;
  /** How long releaseAll() waits for ztunnel and the annotation writes (default 10 s). */
  releaseDeadlineMs?: number;
}

/** What releaseAll() did, for the log. */
export interface ReleaseSummary {
  released: number;
  /** Pods whose rules could not all be removed (each logged). */
  failed: number;
  ztunnelTold: boolean;
  /** The annotation removals finished within the deadline (their failures are logged). */
  annotationsDone: boolean;
  /** Pods whose ambit.dev/enrolled annotation was removed (or that were gone already). */
  annotationsRemoved: number;
  /** Pods whose annotation the API refused to remove, or not in time (each logged). */
  annotationsFailed: number;
}

const reply = (result: 'enrolled' | 'not-ambient' | 'released' | 'ok'): CniWireReply => ({
  v: CNI_WIRE_VERSION,
  result,
});
const refused = (reason: string, tryAgain: boolean): CniWireReply => ({
  v: CNI_WIRE_VERSION,
  result: 'refused',
  reason,
  tryAgain,
});
/** Temporary failures: a retry of the CNI ADD may well succeed. */
const isTemporary = (err: unknown): boolean =>
  (err as MeshError | undefined)?.code === 'AMBIT_INPOD_UNAVAILABLE';
const message = (err: unknown): string => (err instanceof Error ? err.message : String(err));

export class NodeAgent {
  readonly #opts: NodeAgentOptions;
  readonly #nft: NftRunner;
  readonly #ip: IpRunner;
  readonly #log: Logger;
  /** Every pod sandbox CNI told us about, by container id. */
  readonly #pods = new Map<string, KnownPod>();
  #queue: Promise<unknown> = Promise.resolve();
  #client: InpodClient | undefined;
  #appliedProbe: string | undefined;
  #closed = false;
  /** The mesh is being uninstalled: new pods are not captured. */
  #uninstalling = false;
  /** releaseAll() deleted the state file: nothing may write it again. */
  #stateDeleted = false;

  constructor(opts: NodeAgentOptions) {
    this.#opts = opts;
    this.#nft = opts.nft ?? nftRunner;
    this.#ip = opts.ip ?? ipRunner;
    this.#log = opts.logger ?? createLogger({ fields: { component: 'ambit-node-agent' } });
  }

  /** The pods handed to ztunnel, as the snapshot sends them. */
  enrolled(): InpodPod[] {
    return [...this.#pods.values()].flatMap((p) => (p.enrolled ? [p.enrolled] : []));
  }

  /** Every pod sandbox the agent knows (enrolled or not). */
  known(): readonly KnownPod[] {
    return [...this.#pods.values()];
  }

  /**
   * Loads the state (dropping sandboxes whose netns is gone), connects to ztunnel (whose first
   * message is the snapshot of what stays enrolled), then reconciles against the pod source.
   */
  async start(): Promise<void> {
    for (const p of await loadAgentState(this.#opts.stateFile)) {
      if (existsSync(p.netns)) this.#pods.set(p.containerId, p);
      else
        this.#log.info('pod sandbox gone while the agent was away', {
          pod: `${p.namespace}/${p.name}`,
        });
    }
    await this.#save();
    this.#client = new InpodClient({
      socketPath: this.#opts.ztunnel.socketPath,
      node: this.#opts.node,
      snapshot: () => this.enrolled(),
      ...(this.#opts.ztunnel.ackTimeoutMs !== undefined
        ? { ackTimeoutMs: this.#opts.ztunnel.ackTimeoutMs }
        : {}),
      onSyncChange: (synced) => {
        this.#log.info(synced ? 'ztunnel synced' : 'ztunnel connection lost');
        // Pods that could not be enrolled while ztunnel was away get another chance now.
        if (synced) void this.reconcile();
      },
      onError: (err) => this.#log.warn('in-pod handoff', { err }),
    });
    this.#client.start();
    this.#opts.source.onChange(() => void this.reconcile());
    await this.#exclusive(() => this.#syncProbe());
    await this.reconcile();
  }

  /** Stops talking to ztunnel. Rules stay: a restarting agent must not release captured pods. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#queue.catch(() => undefined);
    await this.#client?.close();
  }

  /**
   * Marks the agent as being uninstalled (its DaemonSet is going): from now on a CNI ADD leaves
   * the pod uncaptured, so pods created during the uninstall start plain. Reversible (a DaemonSet
   * that comes back).
   */
  setUninstalling(on: boolean): void {
    if (on !== this.#uninstalling) {
      this.#log.info(
        on
          ? 'mesh being uninstalled: new pods are no longer captured'
          : 'uninstall called off: new pods are captured again',
      );
    }
    this.#uninstalling = on;
  }

  /**
   * The uninstall: releases every pod this agent enrolled (the same as a CNI DEL does: the pod's
   * nft table, ip rule and route), removes the node probe table, tells ztunnel with one empty
   * snapshot if it is still connected, removes the pods' ambit.dev/enrolled annotations where the
   * API still allows it, and deletes the state file. ztunnel and the annotations are best effort,
   * bounded by releaseDeadlineMs; rule removal is not (it is what keeps the pods reachable). Stops
   * the agent: no reconcile runs afterwards. Never throws.
   */
  releaseAll(): Promise<ReleaseSummary> {
    this.#uninstalling = true;
    return this.#exclusive(async () => {
      this.#closed = true;
      const pods = [...this.#pods.values()].filter((p) => p.enrolled && existsSync(p.netns));
      let failed = 0;
      await inBatches(pods, this.#opts.releaseConcurrency ?? 4, async (p) => {
        p.enrolled = undefined;
        if (!(await this.#uncapture(p.netns, 'uninstall: could not remove capture rules')))
          failed++;
      });
      for (const p of this.#pods.values()) p.enrolled = undefined;
      if (this.#opts.probeSnat !== undefined) {
        await this.#nft
          .apply(this.#opts.probeSnat.netns, removeNodeProbeScript())
          .catch((err: unknown) =>
            this.#log.error('uninstall: could not remove the node probe table', { err }),
          );
        this.#appliedProbe = undefined;
      }
      const deadline = this.#opts.releaseDeadlineMs ?? 10_000;
      let ztunnelTold = false;
      if (this.#client?.synced) {
        // One empty snapshot instead of a del per pod: ztunnel drops them all.
        ztunnelTold = await withDeadline(this.#client.resync(), deadline).then(
          (ok) => ok,
          (err: unknown) => {
            this.#log.warn('uninstall: ztunnel did not take the empty snapshot', { err });
            return false;
          },
        );
      }
      let annotationsRemoved = 0;
      const unmark = async (p: KnownPod): Promise<void> => {
        const facts = await this.#opts.source.getPod(p.namespace, p.name);
        if (!facts || (await this.#record(facts, false))) annotationsRemoved++;
      };
      const annotationsDone = await withDeadline(
        Promise.allSettled(pods.map(unmark)),
        deadline,
      ).catch(() => false);
      const annotationsFailed = pods.length - annotationsRemoved;
      if (!annotationsDone)
        this.#log.warn('uninstall: pod annotations not all removed in time', {
          deadlineMs: deadline,
        });
      await rm(this.#opts.stateFile, { force: true }).catch((err: unknown) =>
        this.#log.warn('uninstall: could not delete the state file', { err }),
      );
      this.#stateDeleted = true;
      this.#pods.clear();
      const summary = {
        released: pods.length - failed,
        failed,
        ztunnelTold,
        annotationsDone,
        annotationsRemoved,
        annotationsFailed,
      };
      this.#log.info('uninstall: pods released', { ...summary });
      return summary;
    });
  }

  /** One CNI event from ambit-cni. Never throws: failures become a `refused` reply. */
  handleCni(req: CniWireRequest): Promise<CniWireReply> {
    return this.#exclusive(async () => {
      try {
        switch (req.command) {
          case 'ADD':
            return await this.#add(req);
          case 'DEL':
            return await this.#del(req);
          case 'CHECK':
            return await this.#check(req);
        }
      } catch (err) {
        this.#log.error('CNI event failed', { command: req.command, pod: req.pod, err });
        return refused(message(err), isTemporary(err));
      }
    });
  }

  /** Brings every known pod in line with the source (enrol newly ambient, release the others). */
  reconcile(): Promise<void> {
    return this.#exclusive(async () => {
      if (this.#closed) return;
      for (const p of [...this.#pods.values()]) {
        if (!existsSync(p.netns)) {
          // The sandbox went without a DEL reaching us (agent down at the time).
          if (p.enrolled) await this.#client?.del(p.enrolled.uid).catch(() => undefined);
          this.#pods.delete(p.containerId);
          continue;
        }
        try {
          const facts = await this.#opts.source.getPod(p.namespace, p.name);
          const decision = decideAmbient(this.#opts.source.getNamespace(p.namespace), facts);
          if (decision.ambient && !p.enrolled && facts) await this.#enrol(p, facts);
          else if (!decision.ambient && p.enrolled) await this.#release(p, decision.reason);
        } catch (err) {
          this.#log.warn('reconcile: pod left as it was', { pod: `${p.namespace}/${p.name}`, err });
        }
      }
      await this.#save();
      await this.#syncProbe();
    });
  }

  async #add(req: CniWireRequest): Promise<CniWireReply> {
    if (req.netns === undefined) return refused('CNI ADD without a netns', false);
    if (this.#uninstalling) {
      this.#log.info('pod not captured', {
        pod: `${req.pod.namespace}/${req.pod.name}`,
        reason: 'the mesh is being uninstalled',
      });
      return reply('not-ambient');
    }
    let facts: PodFacts | undefined;
    try {
      facts = await this.#opts.source.getPod(req.pod.namespace, req.pod.name);
    } catch (err) {
      // The API server is unreachable (or similar): the runtime retries the sandbox later.
      return refused(`cannot read pod ${req.pod.namespace}/${req.pod.name}: ${message(err)}`, true);
    }
    const ns = this.#opts.source.getNamespace(req.pod.namespace);
    if (facts === undefined && namespaceIsAmbient(ns)) {
      return refused(
        `pod ${req.pod.namespace}/${req.pod.name} is not known to the pod source yet`,
        true,
      );
    }
    const decision = decideAmbient(ns, facts);
    const previous = this.#pods.get(req.containerId);
    const pod: KnownPod = {
      containerId: req.containerId,
      netns: req.netns,
      ifname: req.ifname,
      namespace: req.pod.namespace,
      name: req.pod.name,
      ...(req.pod.uid !== undefined ? { uid: req.pod.uid } : {}),
      ips: req.ips,
      ...(previous?.enrolled ? { enrolled: previous.enrolled } : {}),
    };
    this.#pods.set(req.containerId, pod);
    if (!decision.ambient) {
      if (pod.enrolled) await this.#release(pod, decision.reason);
      await this.#save();
      this.#log.info('pod not captured', {
        pod: `${pod.namespace}/${pod.name}`,
        reason: decision.reason,
      });
      return reply('not-ambient');
    }
    try {
      // A repeated ADD re-applies the (idempotent) rules and re-sends the pod to ztunnel.
      await this.#enrol(pod, facts!);
    } catch (err) {
      this.#pods.delete(req.containerId);
      await this.#save();
      throw err;
    }
    await this.#syncProbe();
    this.#log.info('pod captured', {
      pod: `${pod.namespace}/${pod.name}`,
      reason: decision.reason,
    });
    return reply('enrolled');
  }

  async #del(req: CniWireRequest): Promise<CniWireReply> {
    const pod = this.#pods.get(req.containerId);
    if (pod === undefined) return reply('released'); // DEL tolerates missing state
    if (pod.enrolled) await this.#release(pod, 'CNI DEL');
    this.#pods.delete(req.containerId);
    await this.#save();
    await this.#syncProbe();
    return reply('released');
  }

  async #check(req: CniWireRequest): Promise<CniWireReply> {
    const facts = await this.#opts.source.getPod(req.pod.namespace, req.pod.name);
    const decision = decideAmbient(this.#opts.source.getNamespace(req.pod.namespace), facts);
    if (!decision.ambient) return reply('ok');
    const pod = this.#pods.get(req.containerId);
    if (!pod?.enrolled)
      return refused(`pod should be captured (${decision.reason}) but is not enrolled`, false);
    if ((await this.#nft.listTable(pod.netns, POD_TABLE)) === undefined) {
      return refused(`capture rules (table inet ${POD_TABLE}) missing in ${pod.netns}`, false);
    }
    return reply('ok');
  }

  async #enrol(pod: KnownPod, facts: PodFacts): Promise<void> {
    const handoff: InpodPod = {
      uid: facts.uid,
      name: pod.name,
      namespace: pod.namespace,
      serviceAccount: facts.serviceAccount,
      netns: pod.netns,
      ips: pod.ips,
    };
    try {
      await this.#capture(pod);
      if (!this.#client) throw new Error('agent not started');
      await this.#client.add(handoff);
    } catch (err) {
      await this.#uncapture(pod.netns, 'could not roll back capture rules');
      pod.enrolled = undefined;
      throw err;
    }
    pod.enrolled = handoff;
    await this.#save();
    await this.#record(facts, true);
  }

  /** Best effort: rules off, ztunnel told; the pod is released even if either fails. */
  async #release(pod: KnownPod, reason: string): Promise<void> {
    const handoff = pod.enrolled;
    if (!handoff) return;
    pod.enrolled = undefined;
    await this.#save(); // before del: a reconnect snapshot must already leave it out
    await this.#uncapture(pod.netns, 'could not remove capture rules');
    await this.#client
      ?.del(handoff.uid)
      .catch((err: unknown) =>
        this.#log.warn('ztunnel did not acknowledge del; the next snapshot drops the pod', { err }),
      );
    const facts = await this.#opts.source.getPod(pod.namespace, pod.name);
    if (facts) await this.#record(facts, false);
    this.#log.info('pod released', { pod: `${pod.namespace}/${pod.name}`, reason });
  }

  /**
   * Publishes the decision (Kubernetes: the pod annotation); a failure never undoes a capture.
   * False when it could not be recorded (logged).
   */
  async #record(facts: PodFacts, enrolled: boolean): Promise<boolean> {
    return this.#opts.source.recordEnrolment(facts, enrolled).then(
      () => true,
      (err: unknown) => {
        this.#log.warn('could not record the enrolment', {
          pod: `${facts.namespace}/${facts.name}`,
          enrolled,
          err,
        });
        return false;
      },
    );
  }

  /**
   * Programs the pod netns: reply routing (ip route + rule, harmless alone), then the nft table in
   * one transaction (capture and the reply marks together). Each step is idempotent.
   */
  async #capture(pod: KnownPod): Promise<void> {
    await this.#ip.run(pod.netns, replyRoutingCommands(pod.ips));
    await this.#nft.apply(pod.netns, podRulesScript());
  }

  /**
   * Undoes #capture (nft table first: without it nothing is marked). Never throws: logs. False
   * when a step failed in a netns that still exists.
   */
  async #uncapture(netns: string, what: string): Promise<boolean> {
    let ok = true;
    const warn = (err: unknown): void => {
      if (!existsSync(netns)) return;
      ok = false;
      this.#log.warn(what, { netns, err });
    };
    await this.#nft.apply(netns, removePodRulesScript()).catch(warn);
    await this.#ip.run(netns, removeReplyRoutingCommands()).catch(warn);
    return ok;
  }

  /** Rewrites the node-side probe SNAT when the set of captured IPs changed. Never throws. */
  async #syncProbe(): Promise<void> {
    const cfg = this.#opts.probeSnat;
    if (cfg === undefined) return;
    const script = nodeProbeScript(
      this.enrolled()
        .flatMap((p) => p.ips)
        .sort(),
    );
    if (script === this.#appliedProbe) return;
    try {
      await this.#nft.apply(cfg.netns, script);
      this.#appliedProbe = script;
    } catch (err) {
      // Probes then reach ztunnel's 15006 instead of the app; the next change retries.
      this.#log.error('could not program the node probe SNAT', { err });
    }
  }

  #save(): Promise<void> {
    if (this.#stateDeleted) return Promise.resolve();
    return saveAgentState(this.#opts.stateFile, this.#pods.values());
  }

  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => undefined);
    return run;
  }
}

/** Runs `fn` over `items`, at most `n` at a time. */
async function inBatches<T>(
  items: readonly T[],
  n: number,
  fn: (t: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
}

/** Resolves true when `p` settles in time (rejecting like it), false after `ms`. */
async function withDeadline(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([p.then(() => true as const), late]);
  } finally {
    clearTimeout(timer);
  }
}
