// Reads URI SANs out of Node's `subjectAltName` string ("DNS:a, URI:spiffe://…"). Written by hand:
// Node exposes SANs only as this string. Since Node 17.3 an entry whose value holds a comma, quote or
// other special character is written as a JSON string (`URI:"a,b"`), so a naive split on ", "
// could turn one crafted SAN into two; this parser honours that quoting.

export interface SanEntry {
  type: string;
  value: string;
}

/** Parses Node's `subjectAltName` / `subjectaltname` string into entries. Unparseable input gives []. */
export function parseSubjectAltName(text: string | undefined): SanEntry[] {
  if (text === undefined || text === '') return [];
  const out: SanEntry[] = [];
  let i = 0;
  while (i < text.length) {
    const colon = text.indexOf(':', i);
    if (colon < 0) return out;
    const type = text.slice(i, colon);
    let j = colon + 1;
    let value: string;
    if (text[j] === '"') {
      let k = j + 1;
      while (k < text.length && text[k] !== '"') k += text[k] === '\\' ? 2 : 1;
      try {
        value = JSON.parse(text.slice(j, k + 1)) as string;
      } catch {
        return out;
      }
      j = k + 1;
    } else {
      const end = text.indexOf(', ', j);
      value = end < 0 ? text.slice(j) : text.slice(j, end);
      j = end < 0 ? text.length : end;
    }
    out.push({ type, value });
    if (text.startsWith(', ', j)) j += 2;
    i = j;
  }
  return out;
}

/** The URI SAN values of a certificate's `subjectAltName` string, in order. */
export function uriSans(text: string | undefined): string[] {
  return parseSubjectAltName(text)
    .filter((e) => e.type === 'URI')
    .map((e) => e.value);
}
