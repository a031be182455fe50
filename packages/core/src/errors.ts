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
