// Loads the compiled addon (build/Release/ambit_netns.node, built at install by src/build-addon.ts)
// on first use, and turns its thrown errors into MeshErrors. Only this file touches the raw addon.
import { createRequire } from 'node:module';
import { getSystemErrorName } from 'node:util';
import {
  NetnsAddonError,
  NetnsOpenError,
  NetnsSetnsError,
  SocketCallError,
} from '@ambit/core/errors';

/** The raw functions of native/ambit_netns.c; arguments are validated by the callers in index.ts. */
export interface NativeAddon {
  originalDst(fd: number): { address: string; port: number; family: 4 | 6 };
  socketInNetns(
    path: string,
    family: 4 | 6,
    flags: number,
    mark: number,
    address: string,
    port: number,
    backlog: number,
  ): number;
  enterNetns(path: string): void;
  setMark(fd: number, mark: number): void;
  getMark(fd: number): number;
  setIpFlag(fd: number, which: 1 | 2, on: boolean): void;
  bindTo(fd: number, address: string, port: number): void;
}

/** socketInNetns flags, as native/ambit_netns.c defines them. */
export const Flags = {
  transparent: 1,
  freebind: 2,
  reuseAddr: 4,
  listen: 8,
  bind: 16,
  mark: 32,
} as const;

/** setIpFlag's `which`. */
export const IpFlag = { transparent: 1, freebind: 2 } as const;

const ADDON_PATH = '../build/Release/ambit_netns.node';
let addon: NativeAddon | undefined;

export function native(): NativeAddon {
  if (addon) return addon;
  if (process.platform !== 'linux') {
    throw new NetnsAddonError(`@ambit/netns works on Linux only (this is ${process.platform})`);
  }
  try {
    addon = createRequire(import.meta.url)(ADDON_PATH) as NativeAddon;
  } catch (err) {
    throw new NetnsAddonError(
      `@ambit/netns: cannot load the native addon (${ADDON_PATH} from packages/netns/src): ` +
        `${(err as Error).message}. Run \`pnpm install\` (via scripts/with-toolchain), which builds it with node-gyp.`,
      { cause: err },
    );
  }
  return addon;
}

interface RawNativeError extends Error {
  errno?: number;
  syscall?: string;
}

/** Hints appended to the message for the errors an operator is most likely to meet. */
function hint(syscall: string, code: string): string {
  if (code === 'EPERM' && syscall === 'setns') return ' (needs CAP_SYS_ADMIN: run as root)';
  if (code === 'EPERM') return ' (needs CAP_NET_ADMIN: run as root)';
  if (code === 'ENOENT' && syscall.includes('ORIGINAL_DST')) {
    return ' (no connection-tracking entry: the connection was not redirected by a NAT rule)';
  }
  return '';
}

/**
 * Runs one addon call and converts a system-call failure into NetnsOpenError / NetnsSetnsError
 * (when `netnsPath` is given) or SocketCallError. `what` starts the message ("socketInNetns(/run/netns/x)").
 */
export function call<T>(what: string, netnsPath: string | undefined, fn: (a: NativeAddon) => T): T {
  const a = native();
  try {
    return fn(a);
  } catch (err) {
    const raw = err as RawNativeError;
    if (typeof raw.errno !== 'number' || typeof raw.syscall !== 'string') throw err;
    const code = getSystemErrorName(-raw.errno);
    const message = `${what}: ${raw.message} [${code}]${hint(raw.syscall, code)}`;
    if (netnsPath !== undefined && raw.syscall === 'open') {
      throw new NetnsOpenError(netnsPath, raw.errno, code, message, { cause: err });
    }
    if (netnsPath !== undefined && raw.syscall === 'setns') {
      throw new NetnsSetnsError(netnsPath, raw.errno, code, message, { cause: err });
    }
    throw new SocketCallError(raw.syscall, raw.errno, code, message, { cause: err });
  }
}
