export { Waypoint, type WaypointOptions } from './waypoint.ts';
export { WaypointState } from './state/waypoint-state.ts';
export { buildStack, type StackDeps } from './stack.ts';
export { planRequest, type RoutePlan, type UpstreamTarget } from './routing/plan-request.ts';
export { decodeRoute } from './state/decode-route.ts';
export { parseWaypointConfig, loadWaypointConfig } from './state/local-config.ts';
export { loadConfig, type WaypointConfig } from './config.ts';
export type { Handler, Layer, ProxyRequest, ProxyResponse } from './http/types.ts';
