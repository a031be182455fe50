// CA benchmark: how fast Ambit makes keys and CSRs (ztunnel side) and signs and verifies
// certificates (controller side), next to the raw WebCrypto / node:crypto operations they are built
// on, measured in the same run. Run: scripts/with-toolchain node bench/ca.ts [scale]
// A bounded number of iterations per row; `scale` (default 1) multiplies them.
import { generateKeyPairSync, sign as nodeSign, webcrypto } from 'node:crypto';
import { availableParallelism, cpus } from 'node:os';
import { CertificateAuthority } from '../packages/core/src/identity/ca.ts';
import { createCsr, generateP256KeyPair } from '../packages/core/src/identity/csr.ts';
import { buildTlsIdentity } from '../packages/core/src/identity/issued-identity.ts';
import { formatSpiffeId } from '../packages/core/src/identity/spiffe-id.ts';
import { validateCsr } from '../packages/core/src/identity/validate-csr.ts';

const scale = Number(process.argv[2] ?? '1');
const n = (base: number) => Math.max(1, Math.round(base * scale));

interface Row {
  what: string;
  iterations: number;
  opsPerSec: number;
  usPerOp: number;
}
const rows: Row[] = [];

/** Runs `fn` `iterations` times with `concurrency` in flight, after a short warm-up. */
async function measure(
  what: string,
  iterations: number,
  fn: (i: number) => unknown,
  concurrency = 1,
): Promise<void> {
  for (let i = 0; i < Math.min(50, iterations); i++) await fn(i);
  let next = 0;
  const start = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < iterations) await fn(next++);
    }),
  );
  const secs = Number(process.hrtime.bigint() - start) / 1e9;
  rows.push({
    what,
    iterations,
    opsPerSec: iterations / secs,
    usPerOp: (secs * 1e6) / iterations,
  });
  console.error(`  ${what}: done`);
}

const td = 'cluster.local';
const id = formatSpiffeId({ trustDomain: td, namespace: 'bench', serviceAccount: 'sa' });
const ca = await CertificateAuthority.load(
  await CertificateAuthority.createRoot({ trustDomain: td }),
  {
    trustDomain: td,
  },
);
const keys = await generateP256KeyPair();
const sample = await createCsr(id, keys);
const csrs = await Promise.all(Array.from({ length: 64 }, () => createCsr(id)));
const issued = await ca.sign({ csrPem: sample.csrPem, id });
const data = new Uint8Array(256);
const nodeKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
const ecdsa = { name: 'ECDSA', hash: 'SHA-256' };

console.error('measuring…');
// Baselines: the raw primitives.
await measure('baseline: WebCrypto ECDSA P-256 sign', n(5000), () =>
  webcrypto.subtle.sign(ecdsa, keys.privateKey, data),
);
await measure('baseline: node:crypto ECDSA P-256 sign (sync)', n(5000), () =>
  nodeSign('sha256', data, nodeKey),
);
await measure('baseline: node:crypto P-256 keygen (sync)', n(5000), () =>
  generateKeyPairSync('ec', { namedCurve: 'P-256' }),
);
// Client (ztunnel) side.
await measure('P-256 key pair (WebCrypto generateKey)', n(5000), () => generateP256KeyPair());
await measure('CSR for an existing key (createCsr)', n(1000), () => createCsr(id, keys));
await measure('key + CSR (createCsr)', n(1000), () => createCsr(id));
await measure('verify issued chain → TlsIdentity', n(2000), () =>
  buildTlsIdentity({ id, keyPem: sample.keyPem, certChain: issued.certChain, roots: issued.roots }),
);
// CA (controller) side.
await measure('CSR checks only (validateCsr)', n(1000), (i) =>
  validateCsr((csrs[i % csrs.length] ?? sample).csrPem, id),
);
await measure('certificate signed (CA.sign, incl. CSR checks)', n(1000), (i) =>
  ca.sign({ csrPem: (csrs[i % csrs.length] ?? sample).csrPem, id }),
);
await measure(
  'certificate signed, 8 in flight',
  n(1000),
  (i) => ca.sign({ csrPem: (csrs[i % csrs.length] ?? sample).csrPem, id }),
  8,
);

const pad = (s: string, w: number) => s.padEnd(w);
const lpad = (s: string, w: number) => s.padStart(w);
const w = Math.max(...rows.map((r) => r.what.length));
console.log(
  `CA benchmark — node ${process.version}, ${availableParallelism()} CPU(s) (${cpus()[0]?.model ?? '?'}), scale ${scale}`,
);
console.log(
  `| ${pad('operation', w)} | ${lpad('iterations', 10)} | ${lpad('ops/s', 9)} | ${lpad('µs/op', 8)} |`,
);
console.log(`| ${'-'.repeat(w)} | ${'-'.repeat(9)}: | ${'-'.repeat(8)}: | ${'-'.repeat(7)}: |`);
for (const r of rows) {
  console.log(
    `| ${pad(r.what, w)} | ${lpad(String(r.iterations), 10)} | ${lpad(r.opsPerSec.toFixed(0), 9)} | ${lpad(r.usPerOp.toFixed(1), 8)} |`,
  );
}
