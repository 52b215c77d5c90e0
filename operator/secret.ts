/**
 * The gateway key Secret `sgw-<SGC UID>` in the operator's namespace. The key
 * pair is generated once; a Secret that exists but does not hold a valid pair
 * is reported, never silently replaced, because replacing it would cut every
 * pod tunnel of the gateway.
 */
import { z } from 'zod';
import { SECRET_KEY_PRIVATE, SECRET_KEY_PUBLIC, gatewaySecretName } from '../lib/api/constants.ts';
import { KegError } from '../lib/errors.ts';
import { CORE, resourcePath } from '../lib/kube/paths.ts';
import { isConflict, isNotFound, type KubeRest } from '../lib/kube/rest.ts';
import { PrivateKey, isValidKey } from '../lib/wireguard/keys.ts';

export const SECRET_LABEL_SGC_UID = 'egressgateway.kubernetes.azure.com/sgc-uid';
/**
 * The owning SGC as the Go original labels its key Secrets: its controller
 * maps Secret events to SGCs through them, so a cluster can go back to it.
 */
export const SECRET_LABEL_SGC_NAMESPACE = 'egressgateway.kubernetes.azure.com/owning-gateway-config-namespace';
export const SECRET_LABEL_SGC_NAME = 'egressgateway.kubernetes.azure.com/owning-gateway-config-name';

const SecretSchema = z.object({ data: z.record(z.string(), z.string()).optional() });

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
const unb64 = (s: string | undefined) => (s === undefined ? undefined : Buffer.from(s, 'base64').toString('utf8'));

/** The public key of the gateway, creating the Secret on first use. */
export async function ensureKeySecret(rest: KubeRest, namespace: string, sgc: { namespace: string; name: string; uid: string }): Promise<string> {
  const name = gatewaySecretName(sgc.uid);
  const path = resourcePath(CORE.secrets, namespace, name);
  let raw: unknown;
  try {
    raw = await rest.get(path);
  } catch (err) {
    if (!isNotFound(err)) throw err;
    return create(rest, namespace, name, sgc);
  }
  const data = SecretSchema.parse(raw).data ?? {};
  const priv = unb64(data[SECRET_KEY_PRIVATE]);
  const pub = unb64(data[SECRET_KEY_PUBLIC]);
  if (!isValidKey(priv) || !isValidKey(pub) || PrivateKey.fromBase64(priv).publicKey() !== pub) {
    throw new KegError('KEY_SECRET_INVALID', `Secret ${namespace}/${name} does not hold a matching ${SECRET_KEY_PRIVATE}/${SECRET_KEY_PUBLIC} pair; delete it to generate a new key pair (pods of this gateway must then be recreated)`);
  }
  return pub;
}

async function create(rest: KubeRest, namespace: string, name: string, sgc: { namespace: string; name: string; uid: string }): Promise<string> {
  const key = PrivateKey.generate();
  const pub = key.publicKey();
  const body = {
    apiVersion: 'v1', kind: 'Secret', type: 'Opaque',
    metadata: {
      name, namespace,
      labels: {
        'app.kubernetes.io/managed-by': 'kube-egress-gateway-operator', [SECRET_LABEL_SGC_UID]: sgc.uid,
        [SECRET_LABEL_SGC_NAMESPACE]: sgc.namespace, [SECRET_LABEL_SGC_NAME]: sgc.name,
      },
      annotations: { 'egressgateway.kubernetes.azure.com/sgc': `${sgc.namespace}/${sgc.name}` },
    },
    data: { [SECRET_KEY_PRIVATE]: b64(key.revealBase64()), [SECRET_KEY_PUBLIC]: b64(pub) },
  };
  try {
    await rest.create(resourcePath(CORE.secrets, namespace), body);
  } catch (err) {
    // Created meanwhile (a retry after a lost response): the stored pair wins.
    if (isConflict(err)) return ensureKeySecret(rest, namespace, sgc);
    throw err;
  }
  return pub;
}

export async function deleteKeySecret(rest: KubeRest, namespace: string, sgcUid: string): Promise<void> {
  try {
    await rest.delete(resourcePath(CORE.secrets, namespace, gatewaySecretName(sgcUid)));
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}
