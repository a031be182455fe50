// A HeaderMap as node:http's flat raw form [name, value, name, value...], which
// http.request({ headers }) and res.writeHead(status, headers) take as is: with an object they
// call setHeader (validate, lower-case, store in a map) per header first.

import type { HeaderMap } from './types.ts';

export function rawHeaders(h: HeaderMap, extraName?: string, extraValue?: string): string[] {
  const out: string[] = [];
  for (const name in h) {
    const v = h[name] as string | string[];
    if (typeof v === 'string') out.push(name, v);
    else for (const one of v) out.push(name, one);
  }
  if (extraName !== undefined && extraValue !== undefined) out.push(extraName, extraValue);
  return out;
}
