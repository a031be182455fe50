// What the explicit-mode protocol handlers (SOCKS5, HTTP CONNECT) need from ztunnel.

import type { Logger } from '@ambit/core/log';
import type { MeshSnapshot } from '../state/mesh-snapshot.ts';
import type { OutboundProxy } from './outbound.ts';

export interface ExplicitContext {
  outbound: OutboundProxy;
  state: () => MeshSnapshot;
  log: Logger;
}
