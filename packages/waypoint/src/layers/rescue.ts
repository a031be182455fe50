// The one place where errors become HTTP responses (STYLE.md "Errors reach the wire in one
// place"). Layers throw WaypointHttpErrors carrying their status and response flag; anything else
// is a bug and answers 500. gRPC clients also get `grpc-status`/`grpc-message` so they see a
// meaningful code instead of a bare HTTP status.

import { Readable } from 'node:stream';
import { MeshError, WaypointHttpError } from '@ambit/core/errors';
import type { Layer, ProxyResponse } from '../http/types.ts';

const GRPC_STATUS: Readonly<Record<number, number>> = {
  400: 13, // INTERNAL
  403: 7, // PERMISSION_DENIED
  404: 12, // UNIMPLEMENTED
  500: 13,
  502: 14, // UNAVAILABLE
  503: 14,
  504: 4, // DEADLINE_EXCEEDED
};

export function errorResponse(err: unknown, grpc: boolean): ProxyResponse {
  const status = err instanceof WaypointHttpError ? err.status : 500;
  const flag = err instanceof WaypointHttpError ? err.flag : '-';
  const code = err instanceof MeshError ? err.code : 'AMBIT_WAYPOINT_INTERNAL';
  const message = err instanceof Error ? err.message : String(err);
  const text = `${status === 403 ? 'RBAC: access denied' : 'waypoint'}: ${message} (${code})\n`;
  const headers: ProxyResponse['headers'] = {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': String(Buffer.byteLength(text)),
    'x-ambit-error': code,
  };
  if (grpc) {
    headers['grpc-status'] = String(GRPC_STATUS[status] ?? 2);
    headers['grpc-message'] = encodeURIComponent(message);
  }
  return { status, headers, body: Readable.from([Buffer.from(text)]), flag };
}

export function rescue(): Layer {
  return (next) => async (req) => {
    try {
      return await next(req);
    } catch (err) {
      return errorResponse(err, req.grpc);
    }
  };
}
