// Inbound delivery to the app of one captured pod (15006 and 15008), from inside the pod's netns.
// The app should see the client's address, as without a mesh: ztunnel binds its socket to the
// client's IP with IP_TRANSPARENT and connects to the app. That only works when the pod's netns
// routes the app's replies to that non-local address back to ztunnel (policy routing on the
// connection mark, as transparent proxies set up; docs/ztunnel.md "In-pod mode"). Without it the
// kernel accepts the bind but the replies leave by the pod's default route and the connect hangs.
//
// So the dialer decides once per pod, by trying: at enrolment a probe connects, transparently from
// a documentation address (TEST-NET-2 / 2001:db8::), to a throw-away listener on the pod's IP. If
// that connects within PROBE_TIMEOUT_MS the pod's app gets the client's address; otherwise — or
// when the kernel refuses IP_TRANSPARENT outright (EPERM without CAP_NET_ADMIN) — the pod's own
// address. Until the probe has answered, the pod's own address is used. `appSource` tells the
// access log which one each connection got.

import { once } from 'node:events';
import { createServer, isIP, type Socket } from 'node:net';
import { socketInNetns, ZTUNNEL_MARK } from '@ambit/netns';
import type { Logger } from '@ambit/core/log';
import { dialFromPod } from './dial-from-pod.ts';

export type AppSource = 'client' | 'pod';

const PROBE_TIMEOUT_MS = 500;
/** Documentation addresses (RFC 5737, RFC 3849): never a real client. */
const PROBE_CLIENT = { 4: '198.51.100.77', 6: '2001:db8::77' } as const;

export class AppDialer {
  readonly #netns: string;
  readonly #podIp: string;
  readonly #log: Logger;
  readonly #timeoutMs: number | undefined;
  readonly #probeAbort = new AbortController();
  #mode: AppSource | 'probing' = 'probing';
  /** Settles when the probe has decided (never rejects). */
  readonly probed: Promise<AppSource>;

  constructor(opts: { netns: string; podIp: string; log: Logger; connectTimeoutMs?: number }) {
    this.#netns = opts.netns;
    this.#podIp = opts.podIp;
    this.#log = opts.log;
    this.#timeoutMs = opts.connectTimeoutMs;
    this.probed = this.#probe().then(
      (ok) => this.#decide(ok ? 'client' : 'pod', ok ? undefined : 'the probe did not connect'),
      (err: unknown) => this.#decide('pod', (err as Error).message),
    );
  }

  /** 'client' or 'pod' once decided; 'probing' before. */
  get mode(): AppSource | 'probing' {
    return this.#mode;
  }

  /** Stops a probe still running (the pod is being released). */
  close(): void {
    this.#probeAbort.abort();
  }

  /** Connects to the app at `target` for a client at `client` (InboundDeps.dialApp). */
  async dial(
    target: { host: string; port: number },
    client: { host: string; port: number },
    signal?: AbortSignal,
  ): Promise<{ socket: Socket; appSource: AppSource }> {
    const opts = { signal, timeoutMs: this.#timeoutMs };
    if (this.#mode === 'client' && isIP(client.host) === isIP(target.host)) {
      try {
        const socket = await dialFromPod(this.#netns, target, {
          ...opts,
          bind: { address: client.host, transparent: true },
        });
        return { socket, appSource: 'client' };
      } catch (err) {
        const e = err as { code?: string; errnoCode?: string };
        // Only a refusal of the socket itself changes the mode; a refused connect is the app's.
        if (e.code !== 'AMBIT_SOCKET') throw err;
        this.#decide('pod', `the kernel refused (${e.errnoCode ?? '?'})`);
      }
    }
    return { socket: await dialFromPod(this.#netns, target, opts), appSource: 'pod' };
  }

  #decide(mode: AppSource, why: string | undefined): AppSource {
    if (this.#mode === mode) return mode;
    this.#mode = mode;
    if (this.#probeAbort.signal.aborted) return mode; // released while probing: nothing to say
    if (mode === 'client') {
      this.#log.debug('inbound connections reach the app with the client address', {
        pod: this.#podIp,
      });
    } else {
      this.#log.info(
        "inbound connections reach the app with the pod's own address, not the client's",
        {
          pod: this.#podIp,
          reason: why,
          hint: "the pod's netns needs policy routing for the replies (ip rule fwmark + local route), see docs/ztunnel.md",
        },
      );
    }
    return mode;
  }

  /** True when a transparent connect from a documentation address to the pod's IP works. */
  async #probe(): Promise<boolean> {
    const family = isIP(this.#podIp) === 6 ? 6 : 4;
    const listenFd = socketInNetns(this.#netns, {
      family,
      mark: ZTUNNEL_MARK,
      listen: { address: this.#podIp, port: 0, backlog: 1 },
    });
    const server = createServer((s) => s.destroy());
    server.on('error', () => {});
    server.listen({ fd: listenFd });
    try {
      await once(server, 'listening');
      const port = (server.address() as { port: number }).port;
      const signal = AbortSignal.any([
        this.#probeAbort.signal,
        AbortSignal.timeout(PROBE_TIMEOUT_MS),
      ]);
      const s = await dialFromPod(
        this.#netns,
        { host: this.#podIp, port },
        { signal, bind: { address: PROBE_CLIENT[family], transparent: true } },
      ).catch(() => undefined);
      s?.destroy();
      return s !== undefined;
    } finally {
      server.close();
    }
  }
}
