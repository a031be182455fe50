// One exchange with one endpoint, in the client's protocol: HTTP/1.1 through node:http (a
// keep-alive TunnelAgent per endpoint), HTTP/2 (and gRPC) through a pooled node:http2 session, an Upgrade as raw bytes over a fresh tunnel. Errors
// before the response begins become WaypointConnectError (could not reach it) or
// WaypointUpstreamResetError (it broke the exchange); both are retryable.

import { constants as h2c, type ClientHttp2Stream, type IncomingHttpHeaders } from 'node:http2';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { MeshError, WaypointConnectError, WaypointUpstreamResetError } from '@ambit/core/errors';
import { endToEndHeaders } from '../http/hop-by-hop.ts';
import { rawHeaders } from '../http/raw-headers.ts';
import type { HeaderMap, ProxyRequest, ProxyResponse } from '../http/types.ts';
import type { Endpoint } from './endpoint.ts';
import { readResponseHead } from './read-response-head.ts';
import type { UpstreamPools } from './upstream-pools.ts';

function failure(err: unknown, req: ProxyRequest, endpoint: Endpoint): Error {
  if (req.signal.aborted) return req.signal.reason as Error;
  for (let e: unknown = err; e instanceof Error; e = e.cause)
    if (e instanceof WaypointConnectError) return e;
  if (err instanceof MeshError) return err;
  return new WaypointUpstreamResetError(
    `${endpoint.key} (${endpoint.workload.namespace}/${endpoint.workload.name}) reset before the response: ${(err as Error).message}`,
    { cause: err },
  );
}

function sendHttp1(pools: UpstreamPools, req: ProxyRequest, e: Endpoint): Promise<ProxyResponse> {
  return new Promise<ProxyResponse>((resolve, reject) => {
    const out = httpRequest({
      agent: pools.agent(e),
      method: req.method,
      path: req.path,
      headers: rawHeaders(req.headers, 'host', req.authority),
      setHost: false,
      signal: req.signal,
    });
    out.once('error', (err) => reject(failure(err, req, e)));
    out.once('response', (res: IncomingMessage) => {
      out.on('error', () => {}); // later failures reach the client through the body
      resolve({
        status: res.statusCode ?? 502,
        headers: endToEndHeaders(res.headers),
        body: res,
      });
    });
    if (req.body === undefined) out.end();
    else req.body.pipe(out);
  });
}

async function sendH2(
  pools: UpstreamPools,
  req: ProxyRequest,
  e: Endpoint,
): Promise<ProxyResponse> {
  let stream: ClientHttp2Stream;
  try {
    const session = await pools.h2(e);
    stream = session.request(
      {
        ...req.headers,
        [h2c.HTTP2_HEADER_METHOD]: req.method,
        [h2c.HTTP2_HEADER_PATH]: req.path,
        [h2c.HTTP2_HEADER_AUTHORITY]: req.authority,
        [h2c.HTTP2_HEADER_SCHEME]: 'http',
      },
      { endStream: req.body === undefined, signal: req.signal },
    );
  } catch (err) {
    throw failure(err, req, e);
  }
  const body = req.body;
  if (body !== undefined) {
    body.pipe(stream);
    stream.once('close', () => body.unpipe(stream));
  }
  const trailers = new Promise<HeaderMap | undefined>((resolve) => {
    stream.once('trailers', (t: IncomingHttpHeaders) => resolve(endToEndHeaders(t)));
    stream.once('close', () => resolve(undefined));
  });
  return new Promise<ProxyResponse>((resolve, reject) => {
    const onError = (err: Error): void => reject(failure(err, req, e));
    const onClose = (): void =>
      reject(failure(new Error(`stream closed with code ${stream.rstCode}`), req, e));
    stream.once('error', onError);
    stream.once('close', onClose);
    stream.once('response', (headers) => {
      stream.off('error', onError);
      stream.off('close', onClose);
      stream.on('error', () => {}); // surfaced to the client as a reset of its stream
      resolve({
        status: Number(headers[h2c.HTTP2_HEADER_STATUS]),
        headers: endToEndHeaders(headers),
        body: stream,
        trailers,
      });
    });
  });
}

function requestHead(req: ProxyRequest): string {
  const lines = [`${req.method} ${req.path} HTTP/1.1`, `host: ${req.authority}`];
  for (const [k, v] of Object.entries(req.headers))
    for (const one of Array.isArray(v) ? v : [v]) lines.push(`${k}: ${one}`);
  lines.push('connection: upgrade', `upgrade: ${req.upgrade?.protocol ?? ''}`);
  return `${lines.join('\r\n')}\r\n\r\n`;
}

async function sendUpgrade(
  pools: UpstreamPools,
  req: ProxyRequest,
  e: Endpoint,
): Promise<ProxyResponse> {
  let tunnel: Duplex;
  try {
    tunnel = await pools.tunnel(e, req.signal);
  } catch (err) {
    throw failure(err, req, e);
  }
  try {
    tunnel.write(requestHead(req));
    if (req.upgrade && req.upgrade.head.length > 0) tunnel.write(req.upgrade.head);
    const head = await readResponseHead(tunnel, req.signal);
    return {
      status: head.status,
      headers: head.headers,
      body: undefined,
      upgraded: { rawHead: head.raw, stream: tunnel },
    };
  } catch (err) {
    tunnel.destroy();
    throw failure(err, req, e);
  }
}

export function sendRequest(
  pools: UpstreamPools,
  req: ProxyRequest,
  endpoint: Endpoint,
): Promise<ProxyResponse> {
  if (req.upgrade) return sendUpgrade(pools, req, endpoint);
  if (req.protocol === 'h2') return sendH2(pools, req, endpoint);
  return sendHttp1(pools, req, endpoint);
}
