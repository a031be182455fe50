// CertManager with controlled time (vitest fake timers for setTimeout and Date) and a scripted
// issuer handing out real certificates from the test PKI with chosen validity windows.
import { X509Certificate } from 'node:crypto';
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { CaUnavailableError } from '../errors.ts';
import { createTestPki, type TestPki } from '../testing/pki.ts';
import { CertManager, type CertIssuer } from './cert-manager.ts';
import type { SpiffeId } from './spiffe-id.ts';
import type { TlsIdentity } from './tls-identity.ts';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
/** Every test starts at this instant (fake clock). */
const T0 = Math.floor(Date.now() / 1000) * 1000;
const ALICE = 'spiffe://cluster.local/ns/shop/sa/alice' as SpiffeId;

let pki: TestPki;
/** Leaves for alice valid over [T0 + from, T0 + to]. */
let c1: TlsIdentity; // [0, 1 h]
let c2: TlsIdentity; // [30 min, 90 min]
let short: TlsIdentity; // [0, 10 min]
let yearLong: TlsIdentity; // [0, 365 d]

function leaf(fromMs: number, toMs: number): Promise<TlsIdentity> {
  return pki.issue('shop', 'alice', {
    notBefore: new Date(T0 + fromMs),
    notAfter: new Date(T0 + toMs),
  });
}

function serial(identity: TlsIdentity): string {
  return new X509Certificate(identity.certChain).serialNumber.toLowerCase();
}

/** An issuer that answers from a script; `calls` counts requests. Past the script's end it repeats the last step. */
function scripted(...steps: (TlsIdentity | Error)[]): CertIssuer & { calls: number } {
  const issuer = Object.assign(
    (_id: SpiffeId): Promise<TlsIdentity> => {
      const step = steps[Math.min(issuer.calls, steps.length - 1)];
      issuer.calls++;
      return step instanceof Error ? Promise.reject(step) : Promise.resolve(step!);
    },
    { calls: 0 },
  );
  return issuer;
}

const down = () => new CaUnavailableError('CA at 10.0.0.1:15012 did not answer');

let managers: CertManager[] = [];
function manager(issuer: CertIssuer, random = () => 0): CertManager {
  const m = new CertManager({ issuer, random });
  managers.push(m);
  return m;
}

beforeAll(async () => {
  pki = await createTestPki();
  [c1, c2, short, yearLong] = await Promise.all([
    leaf(0, HOUR),
    leaf(30 * MIN, 90 * MIN),
    leaf(0, 10 * MIN),
    leaf(0, 365 * DAY),
  ]);
});

beforeEach(() => {
  vi.useFakeTimers({ now: T0, toFake: ['setTimeout', 'clearTimeout', 'Date'] });
});

afterEach(() => {
  for (const m of managers) m.close();
  managers = [];
  vi.useRealTimers();
});

describe('CertManager', () => {
  it('makes one request for concurrent callers and caches the result', async () => {
    let release!: (id: TlsIdentity) => void;
    let calls = 0;
    const m = manager(() => {
      calls++;
      return new Promise((resolve) => (release = resolve));
    });
    const waiting = Array.from({ length: 10 }, () => m.get(ALICE));
    expect(m.snapshot()).toEqual([{ id: ALICE, state: 'pending', failures: 0 }]);
    release(c1);
    const got = await Promise.all(waiting);
    expect(new Set(got)).toEqual(new Set([c1]));
    expect(await m.get(ALICE)).toBe(c1);
    expect(m.peek(ALICE)).toBe(c1);
    expect(calls).toBe(1);
  });

  it('renews at half of the validity and announces the rotation', async () => {
    const issuer = scripted(c1, c2);
    const m = manager(issuer);
    const rotated: [SpiffeId, TlsIdentity][] = [];
    m.on('rotated', (id, identity) => rotated.push([id, identity]));
    expect(await m.get(ALICE)).toBe(c1);
    expect(m.snapshot()[0]).toMatchObject({
      state: 'valid',
      serial: serial(c1),
      notBefore: new Date(T0).toISOString(),
      notAfter: new Date(T0 + HOUR).toISOString(),
      nextAttemptAt: new Date(T0 + 30 * MIN).toISOString(),
    });
    await vi.advanceTimersByTimeAsync(30 * MIN - 1);
    expect(issuer.calls).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(issuer.calls).toBe(2);
    expect(rotated).toEqual([[ALICE, c2]]);
    expect(await m.get(ALICE)).toBe(c2);
    // The next renewal is at c2's own half-life: 30 min + 60 min / 2.
    expect(m.snapshot()[0]).toMatchObject({
      state: 'valid',
      serial: serial(c2),
      nextAttemptAt: new Date(T0 + 60 * MIN).toISOString(),
    });
  });

  it('renews at half of the lifetime left when the CA backdated notBefore', async () => {
    // As the mesh CA issues a 60 s TTL: notBefore 5 min in the past for slow clocks.
    const backdated = await leaf(-5 * MIN, MIN);
    const issuer = scripted(backdated);
    const m = manager(issuer);
    expect(await m.get(ALICE)).toBe(backdated);
    expect(m.snapshot()[0]?.nextAttemptAt).toBe(new Date(T0 + 30_000).toISOString());
    await vi.advanceTimersByTimeAsync(30_000 - 1);
    expect(issuer.calls).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(issuer.calls).toBe(2);
  });

  it('backs off exponentially up to the cap while serving the old certificate', async () => {
    const issuer = scripted(c1, down());
    const m = manager(issuer);
    const delays: number[] = [];
    m.on('failed', (id, err, retryInMs) => {
      expect(id).toBe(ALICE);
      expect(err).toBeInstanceOf(CaUnavailableError);
      delays.push(retryInMs);
    });
    await m.get(ALICE);
    await vi.advanceTimersByTimeAsync(30 * MIN); // first renewal attempt fails
    for (let i = 0; i < 11; i++) await vi.advanceTimersByTimeAsync(delays.at(-1)!);
    const s = 1000;
    expect(delays).toEqual([
      1 * s,
      2 * s,
      4 * s,
      8 * s,
      16 * s,
      32 * s,
      64 * s,
      128 * s,
      256 * s,
      300 * s,
      300 * s,
      300 * s,
    ]);
    expect(issuer.calls).toBe(13);
    // Still serving c1 (valid until 60 min; now about 53.5 min), and no storm of requests.
    const served = await Promise.all(Array.from({ length: 100 }, () => m.get(ALICE)));
    expect(new Set(served)).toEqual(new Set([c1]));
    expect(issuer.calls).toBe(13);
    expect(m.snapshot()[0]).toMatchObject({
      state: 'retrying',
      serial: serial(c1),
      failures: 12,
      lastError: 'CA at 10.0.0.1:15012 did not answer',
    });
  });

  it('recovers after failures: rotates and resets the backoff', async () => {
    let fail = false;
    let calls = 0;
    const m = manager((_id) => {
      calls++;
      if (fail) return Promise.reject(down());
      return Promise.resolve(calls === 1 ? c1 : c2);
    });
    const rotated: TlsIdentity[] = [];
    m.on('rotated', (_id, identity) => rotated.push(identity));
    await m.get(ALICE);
    fail = true;
    await vi.advanceTimersByTimeAsync(30 * MIN); // fails, retry in 1 s
    await vi.advanceTimersByTimeAsync(1000); // fails, retry in 2 s
    expect(m.snapshot()[0]).toMatchObject({ state: 'retrying', failures: 2 });
    fail = false;
    await vi.advanceTimersByTimeAsync(2000);
    expect(rotated).toEqual([c2]);
    expect(m.snapshot()[0]).toMatchObject({ state: 'valid', failures: 0, serial: serial(c2) });
    expect(m.snapshot()[0]?.lastError).toBeUndefined();
  });

  it('stops serving an expired certificate when renewal keeps failing', async () => {
    const issuer = scripted(short, down());
    const m = manager(issuer);
    await m.get(ALICE);
    await vi.advanceTimersByTimeAsync(10 * MIN + 1);
    expect(m.peek(ALICE)).toBeUndefined();
    const calls = issuer.calls;
    await expect(m.get(ALICE)).rejects.toMatchObject({ code: 'AMBIT_CA_UNAVAILABLE' });
    expect(issuer.calls).toBe(calls); // get() does not bypass the backoff
    expect(m.snapshot()[0]).toMatchObject({ state: 'failed', serial: serial(short) });
  });

  it('fails fast after a failed first request and retries in the background', async () => {
    const issuer = scripted(down(), c1);
    const m = manager(issuer);
    const rotated: unknown[] = [];
    m.on('rotated', (...args) => rotated.push(args));
    await expect(m.get(ALICE)).rejects.toMatchObject({ code: 'AMBIT_CA_UNAVAILABLE' });
    await expect(m.get(ALICE)).rejects.toMatchObject({ code: 'AMBIT_CA_UNAVAILABLE' });
    expect(issuer.calls).toBe(1);
    expect(m.snapshot()[0]).toMatchObject({
      state: 'failed',
      failures: 1,
      nextAttemptAt: new Date(T0 + 1000).toISOString(),
    });
    await vi.advanceTimersByTimeAsync(1000);
    expect(issuer.calls).toBe(2);
    expect(await m.get(ALICE)).toBe(c1);
    expect(rotated).toEqual([]); // a first certificate is not a rotation
  });

  it('spreads renewals and retries with jitter', async () => {
    const issuer = scripted(c1, down());
    const m = new CertManager({ issuer, random: () => 0.5, renewJitter: 0.1, backoffJitter: 0.2 });
    managers.push(m);
    const delays: number[] = [];
    m.on('failed', (_id, _err, ms) => delays.push(ms));
    await m.get(ALICE);
    // Renewal at (0.5 - 0.1 × 0.5) of the lifetime = 27 min.
    await vi.advanceTimersByTimeAsync(27 * MIN - 1);
    expect(issuer.calls).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(issuer.calls).toBe(2);
    expect(delays).toEqual([900]); // 1 s shortened by 0.2 × 0.5
  });

  it('waits past the longest setTimeout for long-lived certificates', async () => {
    const issuer = scripted(yearLong, c1);
    const m = manager(issuer);
    await m.get(ALICE);
    await vi.advanceTimersByTimeAsync(30 * DAY);
    expect(issuer.calls).toBe(1);
    await vi.advanceTimersByTimeAsync(182.5 * DAY - 30 * DAY);
    expect(issuer.calls).toBe(2);
  });

  it('forget cancels the renewal and discards a result still in flight', async () => {
    const issuer = scripted(c1);
    const m = manager(issuer);
    await m.get(ALICE);
    m.forget(ALICE);
    expect(vi.getTimerCount()).toBe(0);
    await vi.advanceTimersByTimeAsync(2 * HOUR);
    expect(issuer.calls).toBe(1);
    expect(m.snapshot()).toEqual([]);

    let release!: (id: TlsIdentity) => void;
    const slow = manager(() => new Promise((resolve) => (release = resolve)));
    const pending = slow.get(ALICE);
    slow.forget(ALICE);
    release(c2);
    expect(await pending).toBe(c2); // the caller still gets its answer
    expect(slow.snapshot()).toEqual([]);
    expect(slow.peek(ALICE)).toBeUndefined();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('refuses get() after close and leaves no timer behind', async () => {
    const issuer = scripted(c1);
    const m = manager(issuer);
    await m.get(ALICE);
    m.close();
    expect(vi.getTimerCount()).toBe(0);
    await expect(m.get(ALICE)).rejects.toMatchObject({ code: 'AMBIT_CERT_MANAGER_CLOSED' });
    expect(issuer.calls).toBe(1);
  });

  it('keeps renewing when a rotation listener throws', async () => {
    const issuer = scripted(c1, c2);
    const m = manager(issuer);
    m.on('rotated', () => {
      throw new Error('listener bug');
    });
    await m.get(ALICE);
    await vi.advanceTimersByTimeAsync(30 * MIN);
    expect(m.peek(ALICE)).toBe(c2);
    expect(m.snapshot()[0]?.nextAttemptAt).toBe(new Date(T0 + 60 * MIN).toISOString());
  });
});
