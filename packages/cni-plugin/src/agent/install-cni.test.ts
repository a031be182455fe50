import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { installCni, uninstallCni } from './install-cni.ts';

describe('installCni / uninstallCni on a node directory layout', () => {
  let dir: string;
  let bin: string;
  let conf: string;
  const original = JSON.stringify(
    { cniVersion: '1.0.0', name: 'net', plugins: [{ type: 'bridge' }, { type: 'portmap' }] },
    null,
    4,
  );
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ambit-install-'));
    bin = join(dir, 'bin');
    conf = join(dir, 'net.d');
    mkdirSync(bin);
    mkdirSync(conf);
    writeFileSync(join(dir, 'ambit-cni-build'), '#!/bin/sh\necho built\n');
    writeFileSync(join(conf, '10-net.conflist'), original);
    writeFileSync(join(conf, '20-other.conflist'), '{"untouched":true}');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const opts = () => ({
    pluginBinary: join(dir, 'ambit-cni-build'),
    cniBinDir: bin,
    cniConfDir: conf,
    pluginConfig: { agentSocket: '/run/ambit/cni.sock' },
  });

  it('installs once, idempotently, and uninstalls back to the original chain', async () => {
    expect(await installCni(opts())).toBe(join(conf, '10-net.conflist'));
    await installCni(opts());
    const installed = JSON.parse(readFileSync(join(conf, '10-net.conflist'), 'utf8')) as {
      plugins: { type: string }[];
    };
    expect(installed.plugins.map((p) => p.type)).toEqual(['bridge', 'portmap', 'ambit-cni']);
    expect(statSync(join(bin, 'ambit-cni')).mode & 0o777).toBe(0o755);
    // No temporary files left where the runtime scans.
    expect(readdirSync(conf).sort()).toEqual(['10-net.conflist', '20-other.conflist']);
    expect(readdirSync(bin)).toEqual(['ambit-cni']);

    await uninstallCni(opts());
    expect(JSON.parse(readFileSync(join(conf, '10-net.conflist'), 'utf8'))).toEqual(
      JSON.parse(original),
    );
    expect(readFileSync(join(conf, '20-other.conflist'), 'utf8')).toBe('{"untouched":true}');
    expect(readdirSync(bin)).toEqual([]);
    // Uninstalling again changes nothing (byte for byte).
    const after = readFileSync(join(conf, '10-net.conflist'), 'utf8');
    await uninstallCni(opts());
    expect(readFileSync(join(conf, '10-net.conflist'), 'utf8')).toBe(after);
  });

  it('refuses an empty config dir with AMBIT_CNI_CONFLIST', async () => {
    rmSync(join(conf, '10-net.conflist'));
    rmSync(join(conf, '20-other.conflist'));
    await expect(installCni(opts())).rejects.toMatchObject({ code: 'AMBIT_CNI_CONFLIST' });
  });
});
