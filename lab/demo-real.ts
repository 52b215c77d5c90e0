import { POD_SGC_ANNOTATION } from '../lib/api/constants.ts';
import { CORE, resourcePath } from '../lib/kube/paths.ts';
import { until } from '../testenv/wait.ts';
import type { Lab } from './lab.ts';
import { installProduct, killRealNode, waitProductReady } from './product.ts';
import { ECHO_LOOP, createRealPod, echoedAddresses } from './realpod.ts';
import { applySgc, gatewayForEgress, inPrefix, waitSgcReady } from './scenario.ts';

/*
 * The README demo on real nodes (`npm run demo -- --real-nodes`): a kubelet
 * and containerd per node, the product installed by `helm install` from its
 * image, real Pods whose network containerd sets up through our plugin.
 */

type Say = (line: string) => void;

interface NodeInfo {
  metadata: { name: string };
  status: { nodeInfo: { kubeletVersion: string; containerRuntimeVersion: string } };
}

export async function realNodeDemo(lab: Lab, say: Say): Promise<void> {
  const nodes = await lab.kube.rest.get<{ items: NodeInfo[] }>(resourcePath(CORE.nodes));
  say('These are real nodes: each runs its own kubelet and containerd, registered with the API server:');
  for (const n of nodes.items) say(`  node ${n.metadata.name.padEnd(14)} kubelet ${n.status.nodeInfo.kubeletVersion}, ${n.status.nodeInfo.containerRuntimeVersion}`);
  say('Building the product image if needed (npm run image), importing it into every node\'s containerd, then helm install ...');
  await installProduct(lab);
  await waitProductReady(lab);
  say('helm install done: the operator Deployment, the gateway DaemonSet on gwpool and the node agent DaemonSet on the workers are Ready');

  say('kubectl apply: StaticGatewayConfiguration default/egress-demo { gatewayNodepoolName: gwpool }');
  const t0 = Date.now();
  await applySgc(lab, 'default', 'egress-demo', { gatewayNodepoolName: 'gwpool' });
  const sgc = await waitSgcReady(lab, 'default', 'egress-demo', 180_000);
  const prefix = sgc.status?.egressIpPrefix ?? '?';
  say(`egress-demo is Ready after ${((Date.now() - t0) / 1000).toFixed(1)} s: egress prefix ${prefix}`);

  const node = lab.realNodes.find((n) => !n.m.gateway);
  if (!node) throw new Error('the lab has no worker');
  say(`Two Pods on ${node.m.computerName} that ask the echo service for their source address every second; containerd runs the CNI chain, our plugin last:`);
  const annotated = await createRealPod(lab.kube.rest, node, { namespace: 'default', name: 'annotated', annotations: { [POD_SGC_ANNOTATION]: 'egress-demo' }, script: ECHO_LOOP });
  const plain = await createRealPod(lab.kube.rest, node, { namespace: 'default', name: 'plain', script: ECHO_LOOP });
  const aIp = await until('the annotated pod to egress', () => echoedAddresses(node, annotated).find((ip) => inPrefix(ip, prefix)), 120_000);
  const pIp = await until('the plain pod to egress', () => echoedAddresses(node, plain)[0], 60_000);
  say(`pod annotated egresses from ${aIp}: inside ${prefix}  ✔`);
  say(`pod plain     egresses from ${pIp}: ${inPrefix(pIp, prefix) ? 'inside the prefix  ✘' : 'outside the prefix (default outbound)  ✔'}`);

  const victim = gatewayForEgress(lab, aIp);
  const victimNode = lab.realNodes.find((n) => n.m.computerName === victim?.computerName);
  if (!victim || !victimNode) throw new Error(`no gateway node owns ${aIp}`);
  say(`Killing gateway node ${victim.computerName}: its kubelet, containerd and pods stop and its link goes down ...`);
  const killedAt = Date.now();
  const seenBefore = echoedAddresses(node, annotated).length;
  await killRealNode(lab, victimNode);
  const after = await until('egress to recover through another gateway', () => echoedAddresses(node, annotated).slice(seenBefore).find((ip) => ip !== aIp && inPrefix(ip, prefix)), 120_000, 250);
  say(`Egress recovered through ${gatewayForEgress(lab, after)?.computerName ?? '?'} within ${((Date.now() - killedAt) / 1000).toFixed(1)} s (the pod asks once a second), now egressing from ${after}`);
}
