// Every error Ambit's core raises, each with a stable `code`. Match on `code`, never on the
// message. docs/errors.md lists every code; a test checks that the two agree.

export abstract class MeshError extends Error {
  abstract readonly code: string;
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A string is not a valid SPIFFE ID of the form spiffe://<td>/ns/<ns>/sa/<sa>. */
export class InvalidSpiffeIdError extends MeshError {
  readonly code = 'AMBIT_INVALID_SPIFFE_ID';
}

/** A config-stream message (either direction) is not valid JSON or breaks the schema; the message names the field. */
export class ConfigStreamMessageError extends MeshError {
  readonly code = 'AMBIT_CONFIG_STREAM_MESSAGE';
}

/** A local (development) mesh config file is malformed; the message names the field path. Nothing of it is applied. */
export class LocalConfigError extends MeshError {
  readonly code = 'AMBIT_LOCAL_CONFIG';
}

/** A ztunnel command-line flag or environment variable has a bad value. */
export class ZtunnelConfigError extends MeshError {
  readonly code = 'AMBIT_ZTUNNEL_CONFIG';
}

/** An update to the data plane's mesh state conflicts with it (e.g. two workloads claim one IP); the update is refused whole. */
export class MeshStateConflictError extends MeshError {
  readonly code = 'AMBIT_MESH_STATE_CONFLICT';
}

/** HBONE: the CONNECT request is malformed (not CONNECT, bad :authority or port). Wire status 400. */
export class HboneBadRequestError extends MeshError {
  readonly code = 'AMBIT_HBONE_BAD_REQUEST';
  readonly status = 400;
}

/** HBONE: the server's authorization refused the client's identity. Wire status 401. */
export class HboneDeniedError extends MeshError {
  readonly code = 'AMBIT_HBONE_DENIED';
  readonly status = 401;
}

/** HBONE: the server could not reach the target (refused, unknown workload, dial timeout). Wire status 503. */
export class HboneUpstreamError extends MeshError {
  readonly code = 'AMBIT_HBONE_UPSTREAM';
  readonly status = 503;
}

/** HBONE: the server's certificate does not carry one of the SPIFFE IDs the client expected. */
export class HbonePeerIdentityError extends MeshError {
  readonly code = 'AMBIT_HBONE_PEER_IDENTITY';
}

/** HBONE: TCP, TLS or HTTP/2 setup failed or timed out, or the session broke before the server answered. */
export class HboneConnectError extends MeshError {
  readonly code = 'AMBIT_HBONE_CONNECT';
}

/** HBONE: the server answered the CONNECT with a status Ambit does not speak (not 200/400/401/503). */
export class HboneProtocolError extends MeshError {
  readonly code = 'AMBIT_HBONE_PROTOCOL';
}

/** A CSR the CA refuses to sign; the subclasses say why. Map every one to "permission denied / bad request", never retry it. */
export abstract class CsrRefusedError extends MeshError {}

/** A CSR is not a PEM PKCS#10 request the CA can read (garbage, wrong PEM label, truncated DER, too large). */
export class CsrMalformedError extends CsrRefusedError {
  readonly code = 'AMBIT_CSR_MALFORMED';
}

/** A CSR's signature does not verify with its own public key, or uses a hash weaker than SHA-256. */
export class CsrSignatureError extends CsrRefusedError {
  readonly code = 'AMBIT_CSR_INVALID_SIGNATURE';
}

/** A CSR asks for a SAN other than exactly the one SPIFFE ID the requester is entitled to. */
export class CsrIdentityMismatchError extends CsrRefusedError {
  readonly code = 'AMBIT_CSR_IDENTITY_MISMATCH';
}

/** A CSR's key is too weak or of a type the CA does not issue for (RSA < 2048, EC curve other than P-256/P-384, Ed25519). */
export class CsrWeakKeyError extends CsrRefusedError {
  readonly code = 'AMBIT_CSR_WEAK_KEY';
}

/** CA material (ca-cert.pem, ca-key.pem, cert-chain.pem, root-cert.pem) cannot be loaded or does not verify. */
export class CaMaterialError extends MeshError {
  readonly code = 'AMBIT_CA_INVALID';
}

/** A signing request to the CA is invalid apart from its CSR (identity outside the CA's trust domain, bad TTL or validity). */
export class CaRequestError extends MeshError {
  readonly code = 'AMBIT_CA_BAD_REQUEST';
}

/** An issued certificate chain does not verify: broken chain, unknown root, expired, not the identity asked for, not our key. */
export class CertChainError extends MeshError {
  readonly code = 'AMBIT_CERT_CHAIN_INVALID';
}

/** A TLS peer's certificate has no URI SAN, several, or one that is not a valid SPIFFE ID. */
export class PeerIdentityError extends MeshError {
  readonly code = 'AMBIT_PEER_IDENTITY';
}

/**
 * An AuthorizationPolicy spec is invalid. `field` is the path of the offending field
 * (`spec.rules[0].from[0].source.ipBlocks[1]`); the message starts with it.
 */
export class PolicyInvalidError extends MeshError {
  readonly code = 'AMBIT_POLICY_INVALID';
  readonly field: string;
  constructor(field: string, message: string, options?: ErrorOptions) {
    super(`${field}: ${message}`, options);
    this.field = field;
  }
}

/** CA service: the request has no usable `authorization: Bearer` token, or the authenticator rejected it. Wire status 401. */
export class CaUnauthenticatedError extends MeshError {
  readonly code = 'AMBIT_CA_UNAUTHENTICATED';
  readonly status = 401;
}

/** CA service: the caller is authenticated but not entitled to the identity it asked for. Wire status 403. */
export class CaForbiddenError extends MeshError {
  readonly code = 'AMBIT_CA_FORBIDDEN';
  readonly status = 403;
}

/** CA service: the request body is over the size limit. Wire status 413. */
export class CaRequestTooLargeError extends MeshError {
  readonly code = 'AMBIT_CA_REQUEST_TOO_LARGE';
  readonly status = 413;
}

/** CA service: not `POST /ambit.ca.v1/certificates` (404 for another path, 405 for another method). */
export class CaRouteError extends MeshError {
  readonly code = 'AMBIT_CA_ROUTE';
  readonly status: 404 | 405;
  constructor(status: 404 | 405, message: string, options?: ErrorOptions) {
    super(message, options);
    this.status = status;
  }
}

/** CA service: signing or the authenticator failed unexpectedly. Wire status 500; clients retry. */
export class CaInternalError extends MeshError {
  readonly code = 'AMBIT_CA_INTERNAL';
  readonly status = 500;
}

/** CA client: the CA could not be reached or answered unusably (network, TLS, timeout, 5xx, bad 200 body). Retry later. */
export class CaUnavailableError extends MeshError {
  readonly code = 'AMBIT_CA_UNAVAILABLE';
}

/** CA client: the CA refused the request (4xx). `status` and `serverCode` are the server's. */
export class CaRefusedError extends MeshError {
  readonly code = 'AMBIT_CA_REFUSED';
  readonly status: number;
  readonly serverCode: string;
  constructor(status: number, serverCode: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.status = status;
    this.serverCode = serverCode;
  }
}

/** CA client: the ServiceAccount token (file or supplier) could not be read or is empty. */
export class CaTokenError extends MeshError {
  readonly code = 'AMBIT_CA_TOKEN';
}

/** CertManager: used after close(). */
export class CertManagerClosedError extends MeshError {
  readonly code = 'AMBIT_CERT_MANAGER_CLOSED';
}

/** Config stream: TCP, TLS (e.g. the controller's certificate does not verify against the given roots) or HTTP/2 failed, or the connection broke. The client retries with backoff. */
export class ConfigStreamConnectError extends MeshError {
  readonly code = 'AMBIT_CONFIG_STREAM_CONNECT';
}

/** Config stream: the controller refused the token (401) or the caller (403). The client retries with backoff, re-reading the token. */
export class ConfigStreamUnauthenticatedError extends MeshError {
  readonly code = 'AMBIT_CONFIG_STREAM_UNAUTHENTICATED';
  readonly status: number;
  constructor(status: number, message: string, options?: ErrorOptions) {
    super(message, options);
    this.status = status;
  }
}

/** Config stream: the ServiceAccount token cannot be read (missing file, empty, supplier threw). */
export class ConfigStreamTokenError extends MeshError {
  readonly code = 'AMBIT_CONFIG_STREAM_TOKEN';
}

/** Config stream: the controller broke the protocol in a way no NACK can answer (over-long line, a line without a usable type and nonce, unexpected status or content type); the client closes the stream and reconnects. */
export class ConfigStreamProtocolError extends MeshError {
  readonly code = 'AMBIT_CONFIG_STREAM_PROTOCOL';
}

/** Config stream: the client was closed (e.g. `ready()` was still waiting). */
export class ConfigStreamClosedError extends MeshError {
  readonly code = 'AMBIT_CONFIG_STREAM_CLOSED';
}

/** A failed system call of the native netns addon (@ambit/netns). `errnoCode` is the errno name ('EPERM'), `syscall` the call. */
export abstract class NativeCallError extends MeshError {
  readonly syscall: string;
  readonly errno: number;
  readonly errnoCode: string;
  constructor(
    syscall: string,
    errno: number,
    errnoCode: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.syscall = syscall;
    this.errno = errno;
    this.errnoCode = errnoCode;
  }
}

/** netns: the network namespace path cannot be opened (ENOENT: no such namespace, EACCES). `path` names it. */
export class NetnsOpenError extends NativeCallError {
  readonly code = 'AMBIT_NETNS_OPEN';
  readonly path: string;
  constructor(
    path: string,
    errno: number,
    errnoCode: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super('open', errno, errnoCode, message, options);
    this.path = path;
  }
}

/** netns: entering the network namespace failed (EPERM: no CAP_SYS_ADMIN; EINVAL: the path is not a network namespace). */
export class NetnsSetnsError extends NativeCallError {
  readonly code = 'AMBIT_NETNS_SETNS';
  readonly path: string;
  constructor(
    path: string,
    errno: number,
    errnoCode: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super('setns', errno, errnoCode, message, options);
    this.path = path;
  }
}

/** netns: a socket call failed (socket, setsockopt, bind, listen, getsockopt); `syscall` and `errnoCode` say which and why (EADDRINUSE, EPERM, ENOENT for SO_ORIGINAL_DST on a connection that was not redirected). */
export class SocketCallError extends NativeCallError {
  readonly code = 'AMBIT_SOCKET';
}

/** netns: the native addon is not built or cannot be loaded (run `pnpm install`, which builds it with node-gyp). */
export class NetnsAddonError extends MeshError {
  readonly code = 'AMBIT_NETNS_ADDON';
}

/** In-pod handoff (node agent ↔ ztunnel): a message is not valid JSON, has an unknown version or type, breaks the schema (the message names the field), or is longer than the limit. */
export class InpodProtocolError extends MeshError {
  readonly code = 'AMBIT_INPOD_PROTOCOL';
}

/** In-pod handoff: ztunnel answered a message with a NACK; the message carries ztunnel's reason. */
export class InpodRefusedError extends MeshError {
  readonly code = 'AMBIT_INPOD_REFUSED';
}

/** In-pod handoff: ztunnel's socket could not be reached, did not acknowledge in time, or the connection was lost before it answered. */
export class InpodUnavailableError extends MeshError {
  readonly code = 'AMBIT_INPOD_UNAVAILABLE';
}

/** Node agent: the node's CNI network config cannot be found, read, parsed or rewritten for ambit-cni. */
export class CniConflistError extends MeshError {
  readonly code = 'AMBIT_CNI_CONFLIST';
}

/** Node agent: programming, checking or removing the capture rules inside a pod's netns failed (nft/nsenter error, netns gone). */
export class PodRulesError extends MeshError {
  readonly code = 'AMBIT_POD_RULES';
}

/** Node agent: the local pod/namespace file is malformed (the message names the field); the last good copy stays. */
export class PodSourceError extends MeshError {
  readonly code = 'AMBIT_POD_SOURCE';
}

/** Node agent: its config file or flags have a bad value, or its state file cannot be read. */
export class CniAgentConfigError extends MeshError {
  readonly code = 'AMBIT_CNI_AGENT_CONFIG';
}

/** Controller: the translation layer published config the store refuses (a resource under another key, a key both changed and removed, a key twice in a replace). Nothing of that publish is applied. */
export class ConfigPublishError extends MeshError {
  readonly code = 'AMBIT_CONFIG_PUBLISH';
}

/** ztunnel in-pod mode: a pod handed over by the node agent cannot be captured (netns unusable, a capture port in use inside it, no certificate for its identity). The handoff is NACKed with this reason. */
export class InpodCaptureError extends MeshError {
  readonly code = 'AMBIT_INPOD_CAPTURE';
}

/** The controller's CA Secret (ambit-system/ambit-ca) is missing a key or has neither known layout. */
export class CaSecretError extends MeshError {
  readonly code = 'AMBIT_CA_SECRET';
}

/** A controller flag or environment variable has a bad value. */
export class ControllerConfigError extends MeshError {
  readonly code = 'AMBIT_CONTROLLER_CONFIG';
}

/** File mode: a manifest in the --manifests directory cannot be read or parsed; nothing of it is used. */
export class ManifestError extends MeshError {
  readonly code = 'AMBIT_MANIFEST';
}

/** A controller write (Kubernetes object or status) was attempted by a replica that does not hold the lease. */
export class NotLeaderError extends MeshError {
  readonly code = 'AMBIT_NOT_LEADER';
}

/**
 * Waypoint: a request failure that becomes an HTTP response in the waypoint's one rescue layer.
 * `status` is what the client gets; `flag` is the Envoy-style `response_flags` value reported in
 * metrics and the access log (UF, UH, UT, URX, UC, DENY, NR...).
 */
export abstract class WaypointHttpError extends MeshError {
  abstract readonly status: number;
  abstract readonly flag: string;
}

/** Waypoint: an AuthorizationPolicy denied the request. Wire status 403, flag DENY. */
export class WaypointDeniedError extends WaypointHttpError {
  readonly code = 'AMBIT_WAYPOINT_DENIED';
  readonly status = 403;
  readonly flag = 'DENY';
}

/** Waypoint: the chosen backendRef is invalid (or the rule has no backend): Gateway API's 500. Flag NC. */
export class WaypointInvalidBackendError extends WaypointHttpError {
  readonly code = 'AMBIT_WAYPOINT_INVALID_BACKEND';
  readonly status = 500;
  readonly flag = 'NC';
}

/** Waypoint: routes are bound to the service but none matches the request. Wire status 404, flag NR. */
export class WaypointNoRouteError extends WaypointHttpError {
  readonly code = 'AMBIT_WAYPOINT_NO_ROUTE';
  readonly status = 404;
  readonly flag = 'NR';
}

/** Waypoint: the backend service is unknown or has no healthy endpoint. Wire status 503, flag UH. */
export class WaypointNoEndpointError extends WaypointHttpError {
  readonly code = 'AMBIT_WAYPOINT_NO_ENDPOINT';
  readonly status = 503;
  readonly flag = 'UH';
}

/** Waypoint: the endpoint could not be reached (HBONE connect failed or refused). Wire status 503, flag UF. */
export class WaypointConnectError extends WaypointHttpError {
  readonly code = 'AMBIT_WAYPOINT_CONNECT';
  readonly status = 503;
  readonly flag = 'UF';
}

/** Waypoint: the upstream reset or broke the exchange before a response began. Wire status 502, flag UC. */
export class WaypointUpstreamResetError extends WaypointHttpError {
  readonly code = 'AMBIT_WAYPOINT_UPSTREAM_RESET';
  readonly status = 502;
  readonly flag = 'UC';
}

/** Waypoint: `timeouts.request` or `timeouts.backendRequest` expired before the response began. Wire status 504, flag UT. */
export class WaypointTimeoutError extends WaypointHttpError {
  readonly code = 'AMBIT_WAYPOINT_TIMEOUT';
  readonly status = 504;
  readonly flag = 'UT';
}

/** Waypoint: a Route from the config stream or the local file is malformed; the update is refused. */
export class WaypointRouteError extends MeshError {
  readonly code = 'AMBIT_WAYPOINT_ROUTE';
}

/** Waypoint: a command-line flag or environment variable has a bad value. */
export class WaypointConfigError extends MeshError {
  readonly code = 'AMBIT_WAYPOINT_CONFIG';
}
