// @ambit/netns: the Linux calls Node has no API for, used by ztunnel (in-pod listeners, original
// destination, marked sockets) and the CNI node agent. See README.md and docs/native-addon.md.
//
// Every function is synchronous. Functions returning an fd hand over ownership: pass it to
// `net.Server.listen({ fd })` / `new net.Socket({ fd })` (Node then closes it) or close it with
// fs.closeSync. All fds are non-blocking and close-on-exec.
import { isIP, type Server, type Socket } from 'node:net';
import { constants } from 'node:os';
import { SocketCallError } from '@ambit/core/errors';
import { call, Flags, IpFlag } from './native.ts';

export type IpFamily = 4 | 6;

export interface SocketAddress {
  address: string;
  port: number;
  family: IpFamily;
}

/** The mark ztunnel puts on its own sockets; the capture rules let marked traffic through (DESIGN.md). */
export const ZTUNNEL_MARK = 0x539;

export interface SocketInNetnsOptions {
  /** 4 (AF_INET) or 6 (AF_INET6; a '::' listener also accepts IPv4 unless the netns sets bindv6only). */
  family: IpFamily;
  /** Bind and listen: the fd is for `net.Server.listen({ fd })`. */
  listen?: {
    address: string;
    port: number;
    /** listen(2) backlog; default 511 like Node. Node's listen({ fd }) sets it again. */
    backlog?: number;
    /** SO_REUSEADDR; default true like Node's own listeners. */
    reuseAddr?: boolean;
  };
  /** Bind without listening (a source address for an outgoing connect); port 0 picks one. */
  bind?: { address: string; port?: number };
  /** SO_MARK (needs CAP_NET_ADMIN), e.g. ZTUNNEL_MARK. */
  mark?: number;
  /** IP_TRANSPARENT / IPV6_TRANSPARENT (needs CAP_NET_ADMIN): bind to a non-local address. */
  transparent?: boolean;
  /** IP_FREEBIND / IPV6_FREEBIND: bind to an address not (yet) configured. */
  freebind?: boolean;
}

function checkFd(fd: number): void {
  if (!Number.isInteger(fd) || fd < 0 || fd > 0x7fffffff) {
    throw new TypeError(`fd must be a non-negative integer, got ${fd}`);
  }
}

function checkPort(port: number): void {
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new TypeError(`port must be an integer in 0..65535, got ${port}`);
  }
}

function checkMark(mark: number): void {
  if (!Number.isInteger(mark) || mark < 0 || mark > 0xffffffff) {
    throw new TypeError(`mark must be an integer in 0..0xffffffff, got ${mark}`);
  }
}

function checkAddress(address: string, family: IpFamily): void {
  if (isIP(address) !== family) {
    throw new TypeError(`${JSON.stringify(address)} is not an IPv${family} address`);
  }
}

/**
 * The destination a connection had before a NAT REDIRECT rule sent it to us (SO_ORIGINAL_DST for
 * IPv4, including v4-mapped peers of an IPv6 listener; IP6T_SO_ORIGINAL_DST for IPv6).
 * Throws SocketCallError with errnoCode ENOENT when the connection was not redirected.
 */
export function originalDst(fd: number): SocketAddress {
  checkFd(fd);
  return call(`originalDst(fd ${fd})`, undefined, (a) => a.originalDst(fd));
}

/**
 * A TCP socket created inside the network namespace at `netnsPath` (e.g. /run/netns/<name>,
 * /proc/<pid>/ns/net, or /proc/self/fd/<n> for a netns fd). The calling thread enters the netns,
 * creates, configures, binds and listens, and returns to its own netns within this one call (it
 * aborts the process if it cannot return). Returns the fd: with `listen`, a listening socket for
 * `net.Server.listen({ fd })`; otherwise an unconnected one for `new net.Socket({ fd }).connect()`.
 * Throws NetnsOpenError (bad path), NetnsSetnsError (EPERM without CAP_SYS_ADMIN, EINVAL when the
 * path is not a netns) or SocketCallError (EADDRINUSE, EPERM for mark/transparent, …).
 */
export function socketInNetns(netnsPath: string, opts: SocketInNetnsOptions): number {
  const { family } = opts;
  if (family !== 4 && family !== 6)
    throw new TypeError(`family must be 4 or 6, got ${String(family)}`);
  if (opts.listen && opts.bind) throw new TypeError('socketInNetns: give listen or bind, not both');
  let flags = 0;
  let address = '';
  let port = 0;
  let backlog = 0;
  if (opts.listen) {
    ({ address, port } = opts.listen);
    backlog = opts.listen.backlog ?? 511;
    if (!Number.isInteger(backlog) || backlog < 0) throw new TypeError(`bad backlog ${backlog}`);
    flags |= Flags.listen | (opts.listen.reuseAddr === false ? 0 : Flags.reuseAddr);
  } else if (opts.bind) {
    address = opts.bind.address;
    port = opts.bind.port ?? 0;
    flags |= Flags.bind;
  }
  if (flags & (Flags.listen | Flags.bind)) {
    checkAddress(address, family);
    checkPort(port);
  }
  if (opts.mark !== undefined) {
    checkMark(opts.mark);
    flags |= Flags.mark;
  }
  if (opts.transparent) flags |= Flags.transparent;
  if (opts.freebind) flags |= Flags.freebind;
  return call(`socketInNetns(${netnsPath})`, netnsPath, (a) =>
    a.socketInNetns(netnsPath, family, flags, opts.mark ?? 0, address, port, backlog),
  );
}

/**
 * Enters the netns at `netnsPath` and returns at once: proves this process may use it (same errors
 * as socketInNetns). Costs one setns round trip (see docs/benchmarks.md).
 */
export function enterNetns(netnsPath: string): void {
  call(`enterNetns(${netnsPath})`, netnsPath, (a) => a.enterNetns(netnsPath));
}

/** SO_MARK on a socket (needs CAP_NET_ADMIN). */
export function setMark(fd: number, mark: number): void {
  checkFd(fd);
  checkMark(mark);
  call(`setMark(fd ${fd})`, undefined, (a) => a.setMark(fd, mark));
}

/** The socket's SO_MARK (0 when unset). */
export function getMark(fd: number): number {
  checkFd(fd);
  return call(`getMark(fd ${fd})`, undefined, (a) => a.getMark(fd));
}

/** IP_TRANSPARENT / IPV6_TRANSPARENT by the socket's family (needs CAP_NET_ADMIN). */
export function setTransparent(fd: number, on: boolean): void {
  checkFd(fd);
  call(`setTransparent(fd ${fd})`, undefined, (a) => a.setIpFlag(fd, IpFlag.transparent, on));
}

/** IP_FREEBIND / IPV6_FREEBIND by the socket's family. */
export function setFreebind(fd: number, on: boolean): void {
  checkFd(fd);
  call(`setFreebind(fd ${fd})`, undefined, (a) => a.setIpFlag(fd, IpFlag.freebind, on));
}

/**
 * Binds an unconnected socket (its family decides how `address` is read). With setTransparent
 * first, `address` may be a non-local one, e.g. the client's, before connecting to the app.
 */
export function bindTo(fd: number, address: string, port: number): void {
  checkFd(fd);
  checkPort(port);
  if (!isIP(address)) throw new TypeError(`${JSON.stringify(address)} is not an IP address`);
  call(`bindTo(fd ${fd}, ${address}:${port})`, undefined, (a) => a.bindTo(fd, address, port));
}

/**
 * The fd behind a net.Socket or net.Server (not a tls.TLSSocket: use its underlying net.Socket).
 * Relies on Node's internal `_handle.fd` (a TCPWrap's fd on Unix, stable since Node 0.x and still so
 * in Node 24); this is the only place that does. Throws SocketCallError (EBADF) when the socket has
 * no fd yet (not connected, not listening) or any more (destroyed).
 */
export function socketFd(s: Socket | Server): number {
  const fd = (s as unknown as { _handle?: { fd?: unknown } | null })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) {
    throw new SocketCallError(
      'fd',
      constants.errno.EBADF,
      'EBADF',
      'socketFd: this socket or server has no file descriptor (not open yet, or already closed)',
    );
  }
  return fd;
}
