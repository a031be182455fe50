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
