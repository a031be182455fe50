// The CA wire protocol (docs/identity.md, "CA service"): HTTP/2 over TLS 1.3 to the controller's
// port 15012, one POST per certificate. Wire types (`Wire…`) stay here; the decoders turn them
// into checked domain values at the boundary.
import { CaRequestError } from '../errors.ts';
import { parseSpiffeId, type SpiffeId } from '../identity/spiffe-id.ts';

/** The one route of the CA service. */
export const CA_PATH = '/ambit.ca.v1/certificates';

/** The controller port that serves the CA (and the config stream). */
export const CA_PORT = 15012;

/** Request bodies above this are refused with 413 (a CSR is capped at 64 KiB; JSON adds a little). */
export const MAX_REQUEST_BYTES = 96 * 1024;

/** Response bodies above this are treated as a broken CA by the client. */
export const MAX_RESPONSE_BYTES = 1024 * 1024;

/** ttlSeconds above this are refused (the CA caps TTLs much lower anyway; this bounds the number). */
const MAX_TTL_SECONDS = 366 * 24 * 3600;

/** POST body. */
export interface WireCertificateRequest {
  /** The SPIFFE ID asked for; the CSR must carry exactly this URI SAN. */
  identity: string;
  /** PEM PKCS#10 request. */
  csr: string;
  /** Requested lifetime; optional (the CA's default TTL), capped by the CA. */
  ttlSeconds?: number;
}

/** 200 body. */
export interface WireCertificateResponse {
  /** PEM certificates, one per entry: the leaf, then intermediates (never the root). */
  certChain: string[];
  /** PEM trusted roots, one per entry. */
  roots: string[];
  /** The leaf's notAfter, ISO 8601. */
  notAfter: string;
}

/** Body of every non-200 answer. */
export interface WireCaError {
  /** Stable code, e.g. AMBIT_CA_UNAUTHENTICATED or AMBIT_CSR_IDENTITY_MISMATCH. */
  code: string;
  /** For operators; may change. */
  message: string;
}

/** A decoded, checked request. */
export interface CertificateRequest {
  id: SpiffeId;
  csrPem: string;
  ttlMs?: number;
}

/** A decoded response (PEM bundles joined, notAfter parsed); the chain itself is not verified here. */
export interface CertificateResponse {
  certChain: string;
  roots: string;
  notAfter: Date;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function parseJson(text: string, what: string, fail: (m: string) => Error): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw fail(`${what} is not valid JSON`);
  }
}

/** Decodes and checks a POST body; throws CaRequestError (AMBIT_CA_BAD_REQUEST) naming the field. */
export function decodeCertificateRequest(text: string): CertificateRequest {
  const bad = (m: string) => new CaRequestError(m);
  const body = parseJson(text, 'request body', bad);
  if (!isRecord(body)) throw bad('request body must be a JSON object');
  for (const key of Object.keys(body)) {
    if (key !== 'identity' && key !== 'csr' && key !== 'ttlSeconds') {
      throw bad(`unknown field ${JSON.stringify(key.slice(0, 64))}`);
    }
  }
  if (typeof body.identity !== 'string') throw bad('identity: must be a string');
  let id: SpiffeId;
  try {
    id = parseSpiffeId(body.identity).id;
  } catch (err) {
    throw new CaRequestError(`identity: ${(err as Error).message}`, { cause: err });
  }
  if (typeof body.csr !== 'string' || body.csr === '') {
    throw bad('csr: must be a non-empty PEM string');
  }
  const out: CertificateRequest = { id, csrPem: body.csr };
  if (body.ttlSeconds !== undefined) {
    const ttl = body.ttlSeconds;
    if (typeof ttl !== 'number' || !Number.isInteger(ttl) || ttl <= 0 || ttl > MAX_TTL_SECONDS) {
      throw bad(`ttlSeconds: must be an integer between 1 and ${MAX_TTL_SECONDS}`);
    }
    out.ttlMs = ttl * 1000;
  }
  return out;
}

/** Encodes a POST body. */
export function encodeCertificateRequest(req: CertificateRequest): string {
  const wire: WireCertificateRequest = { identity: req.id, csr: req.csrPem };
  if (req.ttlMs !== undefined) wire.ttlSeconds = Math.max(1, Math.round(req.ttlMs / 1000));
  return JSON.stringify(wire);
}

function pemList(v: unknown, field: string, fail: (m: string) => Error): string {
  if (!Array.isArray(v) || v.length === 0) throw fail(`${field}: must be a non-empty array`);
  return v
    .map((entry, i) => {
      if (typeof entry !== 'string' || !entry.includes('-----BEGIN CERTIFICATE-----')) {
        throw fail(`${field}[${i}]: must be a PEM certificate`);
      }
      return entry.endsWith('\n') ? entry : entry + '\n';
    })
    .join('');
}

/** Decodes a 200 body; `fail` makes the error to throw (the client's is AMBIT_CA_UNAVAILABLE). */
export function decodeCertificateResponse(
  text: string,
  fail: (message: string) => Error,
): CertificateResponse {
  const body = parseJson(text, 'response body', fail);
  if (!isRecord(body)) throw fail('response body must be a JSON object');
  const certChain = pemList(body.certChain, 'certChain', fail);
  const roots = pemList(body.roots, 'roots', fail);
  const notAfter = typeof body.notAfter === 'string' ? new Date(body.notAfter) : undefined;
  if (notAfter === undefined || Number.isNaN(notAfter.getTime())) {
    throw fail('notAfter: must be an ISO 8601 date');
  }
  return { certChain, roots, notAfter };
}

/** Reads an error body leniently (a proxy in between may answer with anything). */
export function decodeCaError(text: string): WireCaError | undefined {
  try {
    const body = JSON.parse(text) as unknown;
    if (isRecord(body) && typeof body.code === 'string' && typeof body.message === 'string') {
      return { code: body.code.slice(0, 100), message: body.message.slice(0, 2000) };
    }
  } catch {
    // not JSON
  }
  return undefined;
}
