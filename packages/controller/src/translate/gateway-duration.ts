// Gateway API durations (GEP-2257): one to four `<1-5 digits><unit>` parts, units h, m, s, ms,
// e.g. "10s", "1m30s", "500ms", "0s". Written by hand: no library parses this exact subset.

const DURATION_RE = /^([0-9]{1,5}(h|m|s|ms)){1,4}$/;
const PART_RE = /([0-9]{1,5})(ms|h|m|s)/g;
const UNIT_MS: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 };

/** Milliseconds, or undefined when `text` is not a Gateway API duration. */
export function parseGatewayDuration(text: string): number | undefined {
  if (!DURATION_RE.test(text)) return undefined;
  let ms = 0;
  for (const [, n, unit] of text.matchAll(PART_RE)) ms += Number(n) * (UNIT_MS[unit ?? ''] ?? 0);
  return ms;
}
