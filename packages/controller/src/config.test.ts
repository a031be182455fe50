// The controller's flags: --workload-cert-ttl (duration syntax, bounds, env), the CA options it
// gives, and that leaving it out keeps the CA's defaults.
import { describe, expect, it } from 'vitest';
import {
  loadConfig,
  parseDuration,
  workloadCertTtlOptions,
  type ControllerConfig,
} from './config.ts';

function config(argv: string[], env: Record<string, string> = {}): ControllerConfig {
  const c = loadConfig(argv, env);
  if (c === 'help') throw new Error('help');
  return c;
}

describe('--workload-cert-ttl', () => {
  it('reads hours, minutes and seconds, alone or combined', () => {
    expect(parseDuration('x', '90s')).toBe(90_000);
    expect(parseDuration('x', '15m')).toBe(900_000);
    expect(parseDuration('x', '24h')).toBe(86_400_000);
    expect(parseDuration('x', '1h30m')).toBe(5_400_000);
    expect(config(['--workload-cert-ttl', '1h30m']).workloadCertTtlMs).toBe(5_400_000);
    expect(config([], { AMBIT_WORKLOAD_CERT_TTL: '60s' }).workloadCertTtlMs).toBe(60_000);
  });

  it('refuses what is not a duration, and durations outside 1m to 168h', () => {
    for (const bad of ['', '60', '1d', '1.5h', '-60s', '30m1h', 'soon']) {
      expect(() => config(['--workload-cert-ttl', bad]), bad).toThrow(
        expect.objectContaining({ code: 'AMBIT_CONTROLLER_CONFIG' }),
      );
    }
    expect(() => config(['--workload-cert-ttl', '59s'])).toThrow(/--workload-cert-ttl.*1m to 168h/);
    expect(() => config(['--workload-cert-ttl', '169h'])).toThrow(/1m to 168h/);
    expect(config(['--workload-cert-ttl', '168h']).workloadCertTtlMs).toBe(168 * 3_600_000);
  });

  it('caps the CA and is its default TTL; absent, the CA keeps its own defaults', () => {
    expect(workloadCertTtlOptions(config(['--workload-cert-ttl', '60s']))).toEqual({
      defaultTtlMs: 60_000,
      maxTtlMs: 60_000,
    });
    expect(workloadCertTtlOptions(config(['--workload-cert-ttl', '72h']))).toEqual({
      defaultTtlMs: 24 * 3_600_000,
      maxTtlMs: 72 * 3_600_000,
    });
    expect(config([]).workloadCertTtlMs).toBeUndefined();
    expect(workloadCertTtlOptions(config([]))).toEqual({});
  });
});
