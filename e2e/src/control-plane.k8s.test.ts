import { AuthenticationV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { describe, expect, inject, it } from 'vitest';

function clients(): { core: CoreV1Api; authn: AuthenticationV1Api } {
  const kc = new KubeConfig();
  kc.loadFromFile(inject('ambitKubeconfig'));
  return { core: kc.makeApiClient(CoreV1Api), authn: kc.makeApiClient(AuthenticationV1Api) };
}

describe('the test API server', () => {
  it('creates a namespace whose default ServiceAccount the controller-manager fills in', async () => {
    const { core } = clients();
    const name = `cp-test-${process.pid}`;
    await core.createNamespace({ body: { metadata: { name } } });
    let found = false;
    for (let i = 0; i < 100 && !found; i++) {
      const list = await core.listNamespacedServiceAccount({ namespace: name });
      found = list.items.some((sa) => sa.metadata?.name === 'default');
      if (!found) await new Promise((r) => setTimeout(r, 100));
    }
    expect(found).toBe(true);
    await core.deleteNamespace({ name });
  });

  it('issues a bound token for an audience and TokenReview authenticates it only for that audience', async () => {
    const { core, authn } = clients();
    const namespace = `tr-test-${process.pid}`;
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    await core.createNamespacedServiceAccount({
      namespace,
      body: { metadata: { name: 'ztunnel' } },
    });
    const issued = await core.createNamespacedServiceAccountToken({
      namespace,
      name: 'ztunnel',
      body: { spec: { audiences: ['ambit-ca'], expirationSeconds: 600 } },
    });
    const token = issued.status?.token ?? '';
    expect(token).not.toBe('');

    const ok = await authn.createTokenReview({
      body: { spec: { token, audiences: ['ambit-ca'] } },
    });
    expect(ok.status?.authenticated).toBe(true);
    expect(ok.status?.user?.username).toBe(`system:serviceaccount:${namespace}:ztunnel`);
    expect(ok.status?.audiences).toEqual(['ambit-ca']);

    const wrong = await authn.createTokenReview({
      body: { spec: { token, audiences: ['other'] } },
    });
    // A token for another audience is refused (the field is omitted, not false, on refusal).
    expect(wrong.status?.authenticated ?? false).toBe(false);
    expect(wrong.status?.user?.username).toBeUndefined();
    expect(wrong.status?.error).toMatch(/audience/);
    await core.deleteNamespace({ name: namespace });
  });
});
