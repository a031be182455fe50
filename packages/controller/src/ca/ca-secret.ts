// The CA's material in a Secret (default ambit-system/ambit-ca), in one of two layouts:
//   Ambit / Istio "plugged-in CA": ca-cert.pem, ca-key.pem, root-cert.pem, cert-chain.pem
//   cert-manager (a Certificate with isCA: true): tls.crt, tls.key, ca.crt, mapped as
//     ca-cert.pem = first certificate of tls.crt, ca-key.pem = tls.key,
//     cert-chain.pem = tls.crt (the rest of it: intermediates), root-cert.pem = ca.crt.
// When the Secret is absent, the leader generates a self-signed root and creates the Secret; the
// create is refused (409) if it already exists, so two replicas racing never end up with two
// roots: the loser reads the winner's. Followers wait for it.

import type { CoreV1Api } from '@kubernetes/client-node';
import { CaSecretError } from '@ambit/core/errors';
import { CertificateAuthority, type CaMaterial } from '@ambit/core/identity/ca';
import { splitCertificates } from '@ambit/core/identity/pem';
import type { Logger } from '@ambit/core/log';
import { apiStatus } from '../kube/kube-clients.ts';

export const CA_SECRET_NAME = 'ambit-ca';

export type CaMaterialSource = 'generated' | 'secret' | 'cert-manager';

function decode(data: Record<string, string> | undefined, key: string): string | undefined {
  const v = data?.[key];
  return v === undefined ? undefined : Buffer.from(v, 'base64').toString('utf8');
}

/** The CA material a Secret's `data` holds, or a CaSecretError naming what is missing. */
export function materialFromSecretData(
  data: Record<string, string> | undefined,
  where: string,
): { material: CaMaterial; source: 'secret' | 'cert-manager' } {
  const caCert = decode(data, 'ca-cert.pem');
  if (caCert !== undefined) {
    const caKey = decode(data, 'ca-key.pem');
    const root = decode(data, 'root-cert.pem');
    if (caKey === undefined || root === undefined) {
      throw new CaSecretError(
        `Secret ${where} has ca-cert.pem but lacks ${caKey === undefined ? 'ca-key.pem' : 'root-cert.pem'}`,
      );
    }
    const chain = decode(data, 'cert-chain.pem');
    return {
      material: {
        caCertPem: caCert,
        caKeyPem: caKey,
        rootCertPem: root,
        ...(chain !== undefined && { certChainPem: chain }),
      },
      source: 'secret',
    };
  }
  const tlsCrt = decode(data, 'tls.crt');
  const tlsKey = decode(data, 'tls.key');
  const caCrt = decode(data, 'ca.crt');
  if (tlsCrt !== undefined && tlsKey !== undefined && caCrt !== undefined) {
    const certs = splitCertificates(tlsCrt);
    const [leaf, ...rest] = certs;
    if (leaf === undefined)
      throw new CaSecretError(`Secret ${where}: tls.crt holds no certificate`);
    return {
      material: {
        caCertPem: leaf,
        caKeyPem: tlsKey,
        rootCertPem: caCrt,
        certChainPem: rest.join(''),
      },
      source: 'cert-manager',
    };
  }
  throw new CaSecretError(
    `Secret ${where} holds neither ca-cert.pem/ca-key.pem/root-cert.pem nor cert-manager's tls.crt/tls.key/ca.crt`,
  );
}

export interface LoadCaOptions {
  core: CoreV1Api;
  namespace: string;
  name?: string;
  trustDomain: string;
  /** Whether this replica may create the root now (it holds the lease). Checked on every attempt. */
  mayCreate(): boolean;
  /** Counts the Secret create as a write of this replica (tests assert who wrote). */
  onWrite?(what: string): void;
  log: Logger;
  /** Poll interval while waiting for the Secret (default 1 s). */
  pollMs?: number;
  signal?: AbortSignal;
}

/** Reads the CA Secret, or (leader) creates it; waits until one of the two works. */
export async function loadOrCreateCaMaterial(
  o: LoadCaOptions,
): Promise<{ material: CaMaterial; source: CaMaterialSource }> {
  const name = o.name ?? CA_SECRET_NAME;
  const where = `${o.namespace}/${name}`;
  let waitingLogged = false;
  for (;;) {
    o.signal?.throwIfAborted();
    try {
      const secret = await o.core.readNamespacedSecret({ namespace: o.namespace, name });
      return materialFromSecretData(secret.data, where);
    } catch (err) {
      if (apiStatus(err) !== 404) {
        if (err instanceof CaSecretError) throw err;
        o.log.warn('cannot read the CA Secret; retrying', { secret: where, err });
      } else if (o.mayCreate()) {
        const material = await CertificateAuthority.createRoot({ trustDomain: o.trustDomain });
        try {
          o.onWrite?.(`Secret ${where}`);
          await o.core.createNamespacedSecret({
            namespace: o.namespace,
            body: {
              metadata: { name, labels: { 'app.kubernetes.io/managed-by': 'ambit-controller' } },
              type: 'Opaque',
              stringData: {
                'ca-cert.pem': material.caCertPem,
                'ca-key.pem': material.caKeyPem,
                'root-cert.pem': material.rootCertPem,
                'cert-chain.pem': '',
              },
            },
          });
          o.log.info('generated a self-signed mesh root', { secret: where });
          return { material, source: 'generated' };
        } catch (createErr) {
          if (apiStatus(createErr) !== 409) throw createErr;
          continue; // another replica won the race: read its root
        }
      } else if (!waitingLogged) {
        waitingLogged = true;
        o.log.info('waiting for the leader to create the CA Secret', { secret: where });
      }
    }
    await new Promise((r) => setTimeout(r, o.pollMs ?? 1000));
  }
}
