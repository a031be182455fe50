// The certificates both tunnel pairs use: the HBONE pair's own (`hbone-pair.ts certs`) when it is
// there, so haproxy presents and verifies exactly the same chain and key types; otherwise
// (harness validation before the HBONE pair exists) an equivalent ECDSA P-256 set made with openssl.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface PemFiles {
  dir: string;
  root: string;
  clientCert: string;
  clientKey: string;
  serverCert: string;
  serverKey: string;
  /** Where they came from, for the report. */
  origin: string;
}

export interface HaproxyPems {
  /** Root bundle (ca-file). */
  ca: string;
  /** Client chain + key in one file (crt). */
  client: string;
  /** Server chain + key in one file (crt). */
  server: string;
}

export function makeCerts(opts: { node: string; hbonePair?: string; dir: string }): PemFiles {
  if (opts.hbonePair) {
    execFileSync(opts.node, [opts.hbonePair, 'certs', '--out', opts.dir], { stdio: 'pipe' });
    return { ...findPems(opts.dir), origin: 'hbone-pair.ts certs' };
  }
  opensslCerts(opts.dir);
  return { ...findPems(opts.dir), origin: 'openssl (ECDSA P-256, SPIFFE URI SANs)' };
}

/** Picks root, client and server cert/key files out of a directory of PEM files by name. */
export function findPems(dir: string): Omit<PemFiles, 'origin'> {
  const files = readdirSync(dir).filter(
    (f) => f.endsWith('.pem') || f.endsWith('.crt') || f.endsWith('.key'),
  );
  const pick = (what: string, test: (f: string) => boolean): string => {
    const hits = files.filter(test);
    if (hits.length !== 1) {
      throw new Error(`certs: cannot tell which file is the ${what} among ${files.join(', ')}`);
    }
    return join(dir, hits[0] as string);
  };
  const isKey = (f: string): boolean => /key/i.test(f);
  const isRoot = (f: string): boolean => /root|(^|[-_.])ca([-_.]|$)|trust|bundle/i.test(f);
  return {
    dir,
    root: pick('root', (f) => isRoot(f) && !isKey(f)),
    clientCert: pick('client certificate', (f) => /client/i.test(f) && !isKey(f) && !isRoot(f)),
    clientKey: pick('client key', (f) => /client/i.test(f) && isKey(f)),
    serverCert: pick('server certificate', (f) => /server/i.test(f) && !isKey(f) && !isRoot(f)),
    serverKey: pick('server key', (f) => /server/i.test(f) && isKey(f)),
  };
}

/** haproxy wants the chain and the key in one `crt` file. */
export function haproxyPems(p: PemFiles): HaproxyPems {
  const bundle = (cert: string, key: string, name: string): string => {
    const out = join(p.dir, name);
    const text = `${readFileSync(cert, 'utf8').trim()}\n${readFileSync(key, 'utf8').trim()}\n`;
    writeFileSync(out, text, { mode: 0o600 });
    return out;
  };
  return {
    ca: p.root,
    client: bundle(p.clientCert, p.clientKey, 'haproxy-client.bundle'),
    server: bundle(p.serverCert, p.serverKey, 'haproxy-server.bundle'),
  };
}

function opensslCerts(dir: string): void {
  const ossl = (...args: string[]): void => {
    execFileSync('openssl', args, { stdio: 'pipe' });
  };
  const root = join(dir, 'root-cert.pem');
  const rootKey = join(dir, 'root-key.secret');
  ossl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', rootKey);
  ossl(
    'req',
    '-x509',
    '-new',
    '-key',
    rootKey,
    '-subj',
    '/O=ambit-bench/CN=bench root',
    '-days',
    '2',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
    '-out',
    root,
  );
  for (const who of ['client', 'server']) {
    const key = join(dir, `${who}-key.pem`);
    const csr = join(dir, `${who}.csr`);
    const ext = join(dir, `${who}.ext`);
    writeFileSync(
      ext,
      [
        `subjectAltName=URI:spiffe://cluster.local/ns/bench/sa/${who}`,
        'basicConstraints=critical,CA:FALSE',
        'keyUsage=critical,digitalSignature,keyEncipherment',
        'extendedKeyUsage=serverAuth,clientAuth',
        '',
      ].join('\n'),
    );
    ossl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', key);
    ossl('req', '-new', '-key', key, '-subj', `/O=ambit-bench`, '-out', csr);
    ossl(
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      root,
      '-CAkey',
      rootKey,
      '-CAcreateserial',
      '-days',
      '2',
      '-extfile',
      ext,
      '-out',
      join(dir, `${who}-cert.pem`),
    );
  }
  if (!existsSync(join(dir, 'server-cert.pem'))) throw new Error('openssl made no server cert');
}
