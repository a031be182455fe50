// The config stream's messages (DESIGN.md "Config stream"): newline-delimited JSON, one message per
// line, each with `schema: 1`. Pure encode/decode; the transport (HTTP/2 over TLS to :15012) is
// elsewhere.
//
// Server → client, per resource type: `{schema, type, version, nonce, resources, removed}`. The first
// message of a type on a stream is a full snapshot (it replaces everything of that type); later ones
// are deltas (`resources` added or replaced by key, `removed` keys deleted).
// Client → server: `subscribe` (node name, types, versions it already holds so the server can
// resume), then one `ack` or `nack` (with the reason) per received nonce.

import { StringDecoder } from 'node:string_decoder';
import { ConfigStreamMessageError } from '../errors.ts';
import type { Authorization } from '../policy/types.ts';
import {
  decodeAuthorization,
  decodeMeshConfig,
  decodeService,
  decodeWorkload,
} from './decode-resource.ts';
import { FieldReader, join } from './field-reader.ts';
import {
  MESH_CONFIG_KEY,
  serviceKey,
  type MeshConfig,
  type Service,
  type Workload,
} from './types.ts';

export const STREAM_SCHEMA = 1;

export const RESOURCE_TYPES = [
  'Workload',
  'Service',
  'Authorization',
  'Route',
  'MeshConfig',
] as const;
export type ResourceType = (typeof RESOURCE_TYPES)[number];

/** An HTTPRoute as the waypoint consumes it; ztunnel never looks inside. */
export interface WireRoute {
  name: string;
  namespace: string;
  [field: string]: unknown;
}

export interface ResourceOf {
  Workload: Workload;
  Service: Service;
  Authorization: Authorization;
  Route: WireRoute;
  MeshConfig: MeshConfig;
}

/** Server → client: a snapshot or delta of one resource type. */
export interface ResourceUpdate<T extends ResourceType = ResourceType> {
  schema: typeof STREAM_SCHEMA;
  type: T;
  /** Opaque version of the whole set of this type after applying this message. */
  version: string;
  /** Unique per message; the client ACKs or NACKs it. */
  nonce: string;
  resources: readonly ResourceOf[T][];
  /** Keys (see resourceKey) of resources deleted. */
  removed: readonly string[];
}

/** Any server → client message (distributes over the resource types, so `type` narrows `resources`). */
export type ServerMessage = { [T in ResourceType]: ResourceUpdate<T> }[ResourceType];

export interface SubscribeMessage {
  schema: typeof STREAM_SCHEMA;
  kind: 'subscribe';
  /** The data plane's node name (ztunnel) or its own name (waypoint). */
  node: string;
  types: readonly ResourceType[];
  /** The versions the client holds from an earlier stream, per type (resume). */
  versions: Partial<Record<ResourceType, string>>;
}

export interface AckMessage {
  schema: typeof STREAM_SCHEMA;
  kind: 'ack';
  type: ResourceType;
  version: string;
  nonce: string;
}

export interface NackMessage {
  schema: typeof STREAM_SCHEMA;
  kind: 'nack';
  type: ResourceType;
  /** The version the client keeps serving (its last good one; "" if none). */
  version: string;
  nonce: string;
  /** Why the update was refused (the MeshError message). */
  reason: string;
}

export type ClientMessage = SubscribeMessage | AckMessage | NackMessage;

/** The key of a resource: the one `removed` refers to and the state store indexes by. */
export function resourceKey<T extends ResourceType>(type: T, resource: ResourceOf[T]): string {
  switch (type) {
    case 'Workload':
      return (resource as Workload).uid;
    case 'Service':
    case 'Authorization':
    case 'Route': {
      const r = resource as { namespace: string; name: string };
      return serviceKey(r);
    }
    case 'MeshConfig':
      return MESH_CONFIG_KEY;
  }
  throw new Error(`unreachable: resource type ${String(type)}`);
}

/** One line of the stream (with its trailing newline). */
export function encodeServerMessage(msg: ServerMessage): string {
  return `${JSON.stringify(msg)}\n`;
}

export function encodeClientMessage(msg: ClientMessage): string {
  return `${JSON.stringify(msg)}\n`;
}

function parseLine(
  line: string,
  direction: string,
): { r: FieldReader; o: Record<string, unknown> } {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (err) {
    throw new ConfigStreamMessageError(
      `${direction} message is not valid JSON: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
  const r: FieldReader = new FieldReader(
    (m) => new ConfigStreamMessageError(`${direction} message: ${m}`),
  );
  const o = r.object(value, '');
  if (o.schema !== STREAM_SCHEMA) {
    r.fail(
      'schema',
      `${JSON.stringify(o.schema)} is not a supported schema version (this build speaks ${STREAM_SCHEMA})`,
    );
  }
  return { r, o };
}

function decodeResource(
  r: FieldReader,
  type: ResourceType,
  v: unknown,
  path: string,
): ResourceOf[ResourceType] {
  switch (type) {
    case 'Workload':
      return decodeWorkload(r, v, path);
    case 'Service':
      return decodeService(r, v, path);
    case 'Authorization':
      return decodeAuthorization(r, v, path);
    case 'MeshConfig':
      return decodeMeshConfig(r, v, path);
    case 'Route': {
      const o = r.object(v, path);
      r.name(o.name, join(path, 'name'));
      r.name(o.namespace, join(path, 'namespace'));
      return o as WireRoute;
    }
  }
}

/** Validates one server → client line; throws ConfigStreamMessageError naming the bad field. */
export function decodeServerMessage(line: string): ServerMessage {
  const { r, o } = parseLine(line, 'config-stream');
  const type = r.oneOf(o.type, 'type', RESOURCE_TYPES);
  const version = r.string(o.version, 'version');
  const nonce = r.string(o.nonce, 'nonce');
  const resources = r
    .array(o.resources, 'resources')
    .map((v, i) => decodeResource(r, type, v, join('resources', i)));
  const removed = r.array(o.removed, 'removed').map((v, i) => r.string(v, join('removed', i)));
  return { schema: STREAM_SCHEMA, type, version, nonce, resources, removed } as ServerMessage;
}

/** Validates one client → server line; throws ConfigStreamMessageError naming the bad field. */
export function decodeClientMessage(line: string): ClientMessage {
  const { r, o } = parseLine(line, 'config-stream client');
  const kind = r.oneOf(o.kind, 'kind', ['subscribe', 'ack', 'nack'] as const);
  switch (kind) {
    case 'subscribe': {
      const versions: Partial<Record<ResourceType, string>> = {};
      if (o.versions !== undefined && o.versions !== null) {
        for (const [t, v] of Object.entries(r.object(o.versions, 'versions'))) {
          versions[r.oneOf(t, join('versions', t), RESOURCE_TYPES)] = r.string(
            v,
            join('versions', t),
          );
        }
      }
      const types = r
        .array(o.types, 'types')
        .map((t, i) => r.oneOf(t, join('types', i), RESOURCE_TYPES));
      if (types.length === 0) r.fail('types', 'subscribe to at least one resource type');
      return { schema: STREAM_SCHEMA, kind, node: r.string(o.node, 'node'), types, versions };
    }
    case 'ack':
      return {
        schema: STREAM_SCHEMA,
        kind,
        type: r.oneOf(o.type, 'type', RESOURCE_TYPES),
        version: r.string(o.version, 'version'),
        nonce: r.string(o.nonce, 'nonce'),
      };
    case 'nack':
      return {
        schema: STREAM_SCHEMA,
        kind,
        type: r.oneOf(o.type, 'type', RESOURCE_TYPES),
        // The version kept may be "" (nothing good yet), so read it leniently.
        version: typeof o.version === 'string' ? o.version : r.fail('version', 'is not a string'),
        nonce: r.string(o.nonce, 'nonce'),
        reason: r.string(o.reason, 'reason'),
      };
  }
}

/**
 * Splits a byte stream into lines. Bounded: a line longer than `maxLineChars` characters is an error (a
 * broken or hostile peer must not grow our memory without end).
 */
export class LineSplitter {
  readonly #max: number;
  // Keeps a UTF-8 character split across two chunks whole.
  readonly #decoder = new StringDecoder('utf8');
  // The unfinished line, in pieces: only new chunks are scanned for "\n", so a large snapshot
  // arriving in many chunks costs linear, not quadratic, time.
  #pieces: string[] = [];
  #partialLength = 0;

  constructor(maxLineChars = 64 * 1024 * 1024) {
    this.#max = maxLineChars;
  }

  /** Feeds a chunk; returns the complete lines it finished (without newlines, empty lines dropped). */
  push(chunk: string | Buffer): string[] {
    const text = typeof chunk === 'string' ? chunk : this.#decoder.write(chunk);
    const lines: string[] = [];
    let start = 0;
    for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', start)) {
      this.#check(this.#partialLength + nl - start);
      this.#pieces.push(text.slice(start, nl));
      const line = this.#pieces.join('');
      this.#pieces = [];
      this.#partialLength = 0;
      start = nl + 1;
      const l = line.endsWith('\r') ? line.slice(0, -1) : line;
      if (l !== '') lines.push(l);
    }
    if (start < text.length) {
      this.#check(this.#partialLength + text.length - start);
      this.#pieces.push(text.slice(start));
      this.#partialLength += text.length - start;
    }
    return lines;
  }

  /** The stream ended: throws if it ended in the middle of a line. */
  end(): void {
    const rest = this.#pieces.join('') + this.#decoder.end();
    this.#pieces = [];
    this.#partialLength = 0;
    if (rest.trim() !== '') {
      throw new ConfigStreamMessageError('config stream ended in the middle of a message');
    }
  }

  #check(length: number): void {
    if (length > this.#max) {
      throw new ConfigStreamMessageError(`config-stream line longer than ${this.#max} characters`);
    }
  }
}
