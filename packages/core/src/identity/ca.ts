import type { X509Certificate } from 'node:crypto';
import { createPrivateKey, randomBytes, webcrypto, type KeyObject } from 'node:crypto';
import { CaMaterialError, CaRequestError, CertChainError } from '../errors.ts';
import { generateP256KeyPair, privateKeyToPem } from './csr.ts';
import { parseSpiffeId, type SpiffeId } from './spiffe-id.ts';
import { validateCsr } from './validate-csr.ts';
import { isSelfSignedCa, parseCertificates, verifyChain } from './verify-chain.ts';
import { P256_SHA256, x509, type CryptoKey } from './x509.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** The CA's files, as kept in a Secret (the names of Istio's "plugged-in CA", which cert-manager can produce). */
export interface CaMaterial {
  /** ca-cert.pem: the certificate the CA signs with (an intermediate, or the root itself). */
  caCertPem: string;
  /** ca-key.pem: its private key (PKCS#8, SEC1 "EC PRIVATE KEY" or PKCS#1 "RSA PRIVATE KEY"). */
  caKeyPem: string;
  /** cert-chain.pem: intermediates between ca-cert and the root; may also hold ca-cert and the root, which are dropped. */
  certChainPem?: string;
  /** root-cert.pem: the trusted roots; may hold several (root rotation). ca-cert must chain to one. */
  rootCertPem: string;
}

export interface RootOptions {
  trustDomain: string;
  /** Root lifetime, default 10 years. */
  ttlMs?: number;
  /** Default now minus 5 minutes. */
  notBefore?: Date;
}

export interface CaOptions {
  trustDomain: string;
  /** TTL when a request names none. Default 24 h. */
  defaultTtlMs?: number;
  /** Longer requests are capped to this. Default 7 days. */
  maxTtlMs?: number;
  /** notBefore is backdated by this much for peers with slow clocks. Default 5 min. */
  clockSkewMs?: number;
}

export interface SignRequest {
  /** PEM PKCS#10 CSR from the requester. */
  csrPem: string;
  /** The one identity the (authenticated) requester is entitled to; the CSR must ask for exactly this. */
  id: SpiffeId;
  /** Requested lifetime; default the CA's default TTL, capped at its max TTL. */
  ttlMs?: number;
  /** Explicit validity window (tests, tools); overrides ttlMs. Its length may not exceed the max TTL. */
  validity?: { notBefore: Date; notAfter: Date };
}

export interface IssuedCertificate {
  leafPem: string;
  /** PEM: leaf, then intermediates (not the root). */
  certChain: string;
  /** PEM bundle of the trusted roots. */
  roots: string;
  notBefore: Date;
  notAfter: Date;
  /** Hex serial number. */
  serialNumber: string;
}

type SignAlgorithm = webcrypto.EcdsaParams | webcrypto.Algorithm;
type ImportAlgorithm = webcrypto.EcKeyImportParams | webcrypto.RsaHashedImportParams;

interface SigningKey {
  key: CryptoKey;
  algorithm: SignAlgorithm;
}

function materialError(message: string, cause?: unknown): CaMaterialError {
  return new CaMaterialError(message, cause === undefined ? undefined : { cause });
}

/** Imports ca-key.pem (any common encoding) into WebCrypto with the signature algorithm it implies. */
async function importSigningKey(pem: string): Promise<{ signing: SigningKey; object: KeyObject }> {
  let object: KeyObject;
  try {
    object = createPrivateKey(pem);
  } catch (err) {
    throw materialError('ca-key.pem is not a readable, unencrypted private key', err);
  }
  const pkcs8 = object.export({ format: 'der', type: 'pkcs8' });
  const details = object.asymmetricKeyDetails ?? {};
  let algorithm: SignAlgorithm;
  let importAlg: ImportAlgorithm;
  if (object.asymmetricKeyType === 'ec' && details.namedCurve === 'prime256v1') {
    algorithm = { name: 'ECDSA', hash: 'SHA-256' };
    importAlg = { name: 'ECDSA', namedCurve: 'P-256' };
  } else if (object.asymmetricKeyType === 'ec' && details.namedCurve === 'secp384r1') {
    algorithm = { name: 'ECDSA', hash: 'SHA-384' };
    importAlg = { name: 'ECDSA', namedCurve: 'P-384' };
  } else if (object.asymmetricKeyType === 'rsa' && (details.modulusLength ?? 0) >= 2048) {
    algorithm = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
    importAlg = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
  } else {
    throw materialError(
      `ca-key.pem type ${object.asymmetricKeyType ?? '?'} ${details.namedCurve ?? details.modulusLength ?? ''} is not supported; use ECDSA P-256/P-384 or RSA ≥ 2048`,
    );
  }
  const key = await webcrypto.subtle.importKey('pkcs8', pkcs8, importAlg, false, ['sign']);
  return { signing: { key, algorithm }, object };
}

/** Random positive 128-bit serial (RFC 5280 allows up to 20 octets). */
function randomSerial(): string {
  const b = randomBytes(16);
  b[0] = ((b[0] ?? 0) & 0x7f) | 0x40;
  return b.toString('hex');
}

/** The key identifier the CA's certificate declares (SKI), so AKI matches what verifiers look up. */
async function caKeyId(cert: x509.X509Certificate): Promise<string> {
  const ski = cert.getExtension(x509.SubjectKeyIdentifierExtension);
  if (ski) return ski.keyId;
  return Buffer.from(await cert.publicKey.getKeyIdentifier()).toString('hex');
}

/** Checks pathLenConstraint along [caCert, ...intermediates, root] (index i has i CAs below it). */
function checkPathLengths(path: readonly X509Certificate[]): void {
  path.forEach((cert, i) => {
    const bc = new x509.X509Certificate(cert.raw).getExtension(x509.BasicConstraintsExtension);
    if (bc?.pathLength !== undefined && bc.pathLength < i) {
      throw materialError(
        `${cert.subject} allows ${bc.pathLength} intermediate(s) below it but has ${i}`,
      );
    }
  });
}

/**
 * The mesh CA: signs workload CSRs into short-lived X.509-SVIDs (one URI SAN), with either a
 * self-signed root it created or an operator-provided intermediate. Construct with `load`.
 */
export class CertificateAuthority {
  readonly trustDomain: string;
  /** PEM of ca-cert.pem. */
  readonly caCertPem: string;
  /** PEM bundle of the trusted roots handed to workloads. */
  readonly roots: string;
  readonly #signing: SigningKey;
  readonly #issuer: x509.Name;
  readonly #authorityKeyId: string;
  /** PEM of the certificates between a leaf and the root (ca-cert first), '' when ca-cert is the root. */
  readonly #intermediates: string;
  /** Leaves never outlive the CA's own chain. */
  readonly #caNotAfter: Date;
  readonly #defaultTtlMs: number;
  readonly #maxTtlMs: number;
  readonly #clockSkewMs: number;

  private constructor(init: {
    trustDomain: string;
    caCertPem: string;
    roots: string;
    signing: SigningKey;
    issuer: x509.Name;
    authorityKeyId: string;
    intermediates: string;
    caNotAfter: Date;
    options: CaOptions;
  }) {
    this.trustDomain = init.trustDomain;
    this.caCertPem = init.caCertPem;
    this.roots = init.roots;
    this.#signing = init.signing;
    this.#issuer = init.issuer;
    this.#authorityKeyId = init.authorityKeyId;
    this.#intermediates = init.intermediates;
    this.#caNotAfter = init.caNotAfter;
    this.#defaultTtlMs = init.options.defaultTtlMs ?? DAY;
    this.#maxTtlMs = init.options.maxTtlMs ?? 7 * DAY;
    this.#clockSkewMs = init.options.clockSkewMs ?? 5 * 60_000;
  }

  /**
   * Creates a self-signed root: ECDSA P-256, CA:true, keyCertSign+cRLSign. Returns the material to
   * store (e.g. in a Secret) and pass to `load`; ca-cert.pem and root-cert.pem are the same.
   */
  static async createRoot(opts: RootOptions): Promise<CaMaterial> {
    parseSpiffeId(`spiffe://${opts.trustDomain}/ns/x/sa/x`); // validates the trust domain
    const keys = await generateP256KeyPair();
    const notBefore = opts.notBefore ?? new Date(Date.now() - 5 * 60_000);
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      name: [{ O: [opts.trustDomain] }, { CN: ['Ambit Root CA'] }],
      keys,
      serialNumber: randomSerial(),
      notBefore,
      notAfter: new Date(notBefore.getTime() + (opts.ttlMs ?? 3650 * DAY)),
      signingAlgorithm: P256_SHA256,
      extensions: [
        new x509.BasicConstraintsExtension(true, undefined, true),
        new x509.KeyUsagesExtension(
          x509.KeyUsageFlags.keyCertSign |
            x509.KeyUsageFlags.cRLSign |
            x509.KeyUsageFlags.digitalSignature,
          true,
        ),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ],
    });
    const pem = cert.toString('pem') + '\n';
    return { caCertPem: pem, caKeyPem: await privateKeyToPem(keys.privateKey), rootCertPem: pem };
  }

  /**
   * Loads CA material and proves it usable: the key matches ca-cert.pem, ca-cert is a CA allowed
   * to sign certificates, and it chains (through cert-chain.pem) to a self-signed root in
   * root-cert.pem, all valid now and within path-length limits. Throws CaMaterialError
   * (AMBIT_CA_INVALID) otherwise.
   */
  static async load(material: CaMaterial, options: CaOptions): Promise<CertificateAuthority> {
    parseSpiffeId(`spiffe://${options.trustDomain}/ns/x/sa/x`);
    const parse = (pem: string, what: string): X509Certificate[] => {
      try {
        return parseCertificates(pem, what);
      } catch (err) {
        throw materialError((err as Error).message, err);
      }
    };
    const caCerts = parse(material.caCertPem, 'ca-cert.pem');
    const caCert = caCerts[0] as X509Certificate;
    if (caCerts.length !== 1) {
      throw materialError(`ca-cert.pem holds ${caCerts.length} certificates; expected one`);
    }
    const roots = parse(material.rootCertPem, 'root-cert.pem');
    for (const root of roots) {
      if (!isSelfSignedCa(root)) {
        throw materialError(`root-cert.pem: ${root.subject} is not a self-signed CA certificate`);
      }
    }
    const { signing, object } = await importSigningKey(material.caKeyPem);
    if (!caCert.checkPrivateKey(object)) {
      throw materialError('ca-key.pem does not match the public key of ca-cert.pem');
    }
    const caX509 = new x509.X509Certificate(caCert.raw);
    if (!caX509.getExtension(x509.BasicConstraintsExtension)?.ca) {
      throw materialError(`ca-cert.pem (${caCert.subject}) is not a CA (no CA:true)`);
    }
    const ku = caX509.getExtension(x509.KeyUsagesExtension);
    if (ku && (ku.usages & x509.KeyUsageFlags.keyCertSign) === 0) {
      throw materialError(
        `ca-cert.pem (${caCert.subject}) may not sign certificates (no keyCertSign)`,
      );
    }
    const rootPrints = new Set(roots.map((r) => r.fingerprint256));
    const between = (material.certChainPem ?? '').includes('-----BEGIN')
      ? parse(material.certChainPem ?? '', 'cert-chain.pem').filter(
          (c) => c.fingerprint256 !== caCert.fingerprint256 && !rootPrints.has(c.fingerprint256),
        )
      : [];
    let root: X509Certificate;
    try {
      root = verifyChain([caCert, ...between], roots, new Date());
    } catch (err) {
      if (err instanceof CertChainError) {
        throw materialError(`ca-cert.pem does not chain to root-cert.pem: ${err.message}`, err);
      }
      throw err;
    }
    const isRoot = rootPrints.has(caCert.fingerprint256);
    checkPathLengths(isRoot ? [caCert] : [caCert, ...between, root]);
    const chainCerts = isRoot ? [] : [caCert, ...between];
    const caNotAfter = new Date(Math.min(...chainCerts.concat(root).map((c) => +c.validToDate)));
    return new CertificateAuthority({
      trustDomain: options.trustDomain,
      caCertPem: caCert.toString(),
      roots: roots.map((r) => r.toString()).join(''),
      signing,
      issuer: caX509.subjectName,
      authorityKeyId: await caKeyId(caX509),
      intermediates: chainCerts.map((c) => c.toString()).join(''),
      caNotAfter,
      options,
    });
  }

  #validity(req: SignRequest): { notBefore: Date; notAfter: Date } {
    if (req.validity) {
      const { notBefore, notAfter } = req.validity;
      const span = notAfter.getTime() - notBefore.getTime();
      if (!(span > 0) || span > this.#maxTtlMs + this.#clockSkewMs) {
        throw new CaRequestError(
          `validity window must be positive and at most the max TTL (${this.#maxTtlMs} ms)`,
        );
      }
      return { notBefore, notAfter };
    }
    const ttl = req.ttlMs ?? this.#defaultTtlMs;
    if (!Number.isFinite(ttl) || ttl <= 0) {
      throw new CaRequestError(`TTL must be a positive number of milliseconds, got ${ttl}`);
    }
    const now = Date.now();
    return {
      notBefore: new Date(now - this.#clockSkewMs),
      notAfter: new Date(now + Math.min(ttl, this.#maxTtlMs)),
    };
  }

  /**
   * Signs a CSR into a leaf for `req.id` (see validateCsr for what a CSR may ask): only a URI SAN,
   * CA:false, digitalSignature (+keyEncipherment for RSA keys), serverAuth+clientAuth, SKI/AKI,
   * random serial, notBefore backdated by the clock skew, TTL capped at the max and at the CA's
   * own expiry. Throws a CsrRefusedError subclass or CaRequestError.
   */
  async sign(req: SignRequest): Promise<IssuedCertificate> {
    let td: string;
    try {
      td = parseSpiffeId(req.id).trustDomain;
    } catch (err) {
      throw new CaRequestError(`entitled identity is invalid: ${(err as Error).message}`, {
        cause: err,
      });
    }
    if (td !== this.trustDomain) {
      throw new CaRequestError(
        `identity ${req.id} is outside this CA's trust domain ${this.trustDomain}`,
      );
    }
    const window = this.#validity(req);
    const notAfter = window.notAfter > this.#caNotAfter ? this.#caNotAfter : window.notAfter;
    const csr = await validateCsr(req.csrPem, req.id);
    const usages =
      x509.KeyUsageFlags.digitalSignature |
      (csr.keyType === 'rsa' ? x509.KeyUsageFlags.keyEncipherment : 0);
    const serialNumber = randomSerial();
    const leaf = await x509.X509CertificateGenerator.create({
      serialNumber,
      subject: '',
      issuer: this.#issuer,
      notBefore: window.notBefore,
      notAfter,
      publicKey: csr.publicKey,
      signingKey: this.#signing.key,
      signingAlgorithm: this.#signing.algorithm,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(usages, true),
        new x509.ExtendedKeyUsageExtension([
          x509.ExtendedKeyUsage.serverAuth,
          x509.ExtendedKeyUsage.clientAuth,
        ]),
        // Empty subject, so the SAN is critical (RFC 5280 §4.2.1.6).
        new x509.SubjectAlternativeNameExtension([{ type: 'url', value: req.id }], true),
        await x509.SubjectKeyIdentifierExtension.create(csr.publicKey),
        new x509.AuthorityKeyIdentifierExtension(this.#authorityKeyId),
      ],
    });
    const leafPem = leaf.toString('pem') + '\n';
    return {
      leafPem,
      certChain: leafPem + this.#intermediates,
      roots: this.roots,
      notBefore: leaf.notBefore,
      notAfter: leaf.notAfter,
      serialNumber,
    };
  }
}
