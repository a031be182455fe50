// PEM block splitting. Written by hand: node:crypto has no bundle parser, and @peculiar/x509's
// PemConverter accepts any label, where Ambit wants to say exactly which one it expects.

const BLOCK_RE = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([A-Za-z0-9+/=\r\n]*?)-----END \1-----/g;

export interface PemBlock {
  label: string;
  der: Buffer;
}

/** Every PEM block in `text`, in order. Text between blocks (comments, "Bag Attributes") is ignored. */
export function pemBlocks(text: string): PemBlock[] {
  const out: PemBlock[] = [];
  for (const m of text.matchAll(BLOCK_RE)) {
    const label = m[1] ?? '';
    const body = (m[2] ?? '').replace(/\s+/g, '');
    out.push({ label, der: Buffer.from(body, 'base64') });
  }
  return out;
}

/** Encodes DER as a PEM block with 64-character lines and a trailing newline. */
export function toPem(label: string, der: Uint8Array | ArrayBuffer): string {
  const b64 = Buffer.from(der instanceof ArrayBuffer ? new Uint8Array(der) : der).toString(
    'base64',
  );
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/** The certificates of a PEM bundle, each re-encoded as its own PEM string. Other blocks are skipped. */
export function splitCertificates(bundle: string): string[] {
  return pemBlocks(bundle)
    .filter((b) => b.label === 'CERTIFICATE')
    .map((b) => toPem('CERTIFICATE', b.der));
}
