import { InvalidSpiffeIdError } from '../errors.ts';

/**
 * A workload identity `spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>`, parsed and
 * validated once at the boundary. The brand keeps raw strings from being passed where an identity
 * was checked.
 */
export type SpiffeId = string & { readonly __brand: 'SpiffeId' };

export interface SpiffeIdParts {
  trustDomain: string;
  namespace: string;
  serviceAccount: string;
}

/** SPIFFE caps an ID at 2048 bytes. */
const MAX_ID_BYTES = 2048;
/** Trust domain: lowercase letters, digits, dots, dashes, underscores (SPIFFE ID spec §2.1). */
const TRUST_DOMAIN_RE = /^[a-z0-9._-]+$/;
/** Kubernetes names: DNS-1123 labels (namespaces) and subdomains (service accounts). */
const NAMESPACE_RE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const SERVICE_ACCOUNT_RE = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

function fail(input: string, why: string): never {
  const shown = input.length > 80 ? `${input.slice(0, 80)}…` : input;
  throw new InvalidSpiffeIdError(`invalid SPIFFE ID ${JSON.stringify(shown)}: ${why}`);
}

function checkParts(input: string, p: SpiffeIdParts): void {
  if (p.trustDomain === '') fail(input, 'empty trust domain');
  if (p.trustDomain.length > 255) fail(input, 'trust domain longer than 255 characters');
  if (!TRUST_DOMAIN_RE.test(p.trustDomain)) {
    fail(input, 'trust domain may hold only lowercase letters, digits, ".", "-" and "_"');
  }
  if (p.namespace === '') fail(input, 'empty namespace');
  if (!NAMESPACE_RE.test(p.namespace)) {
    fail(input, `namespace ${JSON.stringify(p.namespace)} is not a Kubernetes namespace name`);
  }
  if (p.serviceAccount === '') fail(input, 'empty service account');
  if (p.serviceAccount === '.' || p.serviceAccount === '..' || p.serviceAccount.includes('..')) {
    fail(input, 'path traversal in service account');
  }
  if (!SERVICE_ACCOUNT_RE.test(p.serviceAccount)) {
    fail(
      input,
      `service account ${JSON.stringify(p.serviceAccount)} is not a Kubernetes service account name`,
    );
  }
}

/** Parses `spiffe://<td>/ns/<ns>/sa/<sa>`; throws InvalidSpiffeIdError (AMBIT_INVALID_SPIFFE_ID). */
export function parseSpiffeId(input: string): SpiffeIdParts & { id: SpiffeId } {
  if (Buffer.byteLength(input, 'utf8') > MAX_ID_BYTES)
    fail(input, `longer than ${MAX_ID_BYTES} bytes`);
  const scheme = 'spiffe://';
  if (!input.startsWith(scheme)) fail(input, 'scheme must be "spiffe://"');
  const rest = input.slice(scheme.length);
  if (/[?#%]/.test(rest)) fail(input, 'query, fragment and percent-encoding are not allowed');
  const slash = rest.indexOf('/');
  if (slash < 0) fail(input, 'missing path /ns/<namespace>/sa/<service-account>');
  const trustDomain = rest.slice(0, slash);
  const segments = rest.slice(slash + 1).split('/');
  if (segments.some((s) => s === '.' || s === '..')) fail(input, 'path traversal ("." or "..")');
  if (segments.length !== 4 || segments[0] !== 'ns' || segments[2] !== 'sa') {
    fail(input, 'path must be exactly /ns/<namespace>/sa/<service-account>');
  }
  const parts: SpiffeIdParts = {
    trustDomain,
    namespace: segments[1] ?? '',
    serviceAccount: segments[3] ?? '',
  };
  checkParts(input, parts);
  return { ...parts, id: input as SpiffeId };
}

/** Formats and validates an identity from its parts. */
export function formatSpiffeId(parts: SpiffeIdParts): SpiffeId {
  const id = `spiffe://${parts.trustDomain}/ns/${parts.namespace}/sa/${parts.serviceAccount}`;
  checkParts(id, parts);
  return id as SpiffeId;
}

/** True when `input` parses; never throws. */
export function isSpiffeId(input: string): input is SpiffeId {
  try {
    parseSpiffeId(input);
    return true;
  } catch {
    return false;
  }
}
