// ADD's Pod and SGC cache against a real apiserver: what it serves without
// the API, and what it refuses to vouch for.
import t from 'tap';
import { silentLogger } from '../../lib/log.ts';
import { generatePrivateKey } from '../../lib/wireguard/keys.ts';
import { createNode, createPod, createSgc, ensureNamespace, setSgcStatus } from '../../testenv/cni/cluster.ts';
import { startTestKube } from '../../testenv/kubeapi/index.ts';
import { AddCache } from './cache.ts';

const ref = (name: string) => ({ namespace: 'ns1', name });

t.test('serves this node\'s Pods (same UID) and usable SGCs from the watches; reads the API otherwise', async (t) => {
  const kube = await startTestKube(t);
  await ensureNamespace(kube.rest, 'ns1');
  await createNode(kube.rest, 'n1', '10.5.0.0/24');
  const here = await createPod(kube.rest, 'ns1', 'here', 'ready', 'n1');
  const elsewhere = await createPod(kube.rest, 'ns1', 'elsewhere', 'ready', 'n2');
  const ready = await createSgc(kube.rest, 'ns1', 'ready');
  await setSgcStatus(kube.rest, 'ns1', 'ready', ready.generation, { ip: '192.168.1.1', port: 6000, publicKey: generatePrivateKey().publicKey() });
  await createSgc(kube.rest, 'ns1', 'pending');
  const cache = new AddCache({ rest: kube.rest, log: silentLogger, nodeName: 'n1' });
  t.teardown(() => cache.stop());
  await cache.start();

  t.equal((await cache.pod(ref('elsewhere'), elsewhere.uid)).metadata.uid, elsewhere.uid, 'a Pod of another node: read from the API');

  await kube.stopApiServer();
  t.equal((await cache.pod(ref('here'), here.uid)).metadata.uid, here.uid, 'API down: this node\'s Pod from the cache');
  t.equal((await cache.sgc('ns1', 'ready')).metadata.name, 'ready', 'API down: a usable SGC from the cache');
  await t.rejects(cache.pod(ref('here'), undefined), 'without the runtime\'s UID the cache does not vouch for the Pod');
  await t.rejects(cache.pod(ref('here'), 'another-uid'), 'nor for a Pod with another UID (a newer one of the same name)');
  await t.rejects(cache.pod(ref('elsewhere'), elsewhere.uid), 'nor for Pods of other nodes, which it does not watch');
  await t.rejects(cache.sgc('ns1', 'pending'), 'an SGC that is not usable yet is read again');
  await kube.startApiServer();
});
