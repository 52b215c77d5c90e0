// The README's demo: the whole system on this machine, end to end.
//   npm run demo                  (as root; installs what it needs first)
//   npm run demo -- --real-nodes  (a kubelet and containerd per node, the product by helm install)
// Brings the lab up, applies a StaticGatewayConfiguration, shows an annotated
// pod egressing from the prefix and a plain pod not, kills the gateway node
// serving the annotated pod and measures the outage, then tears it all down.
// Ctrl-C tears down too.
import { parseArgs } from 'node:util';
import { createLogger } from '../lib/log.ts';
import { describeError } from '../lib/errors.ts';
import { Lab } from './lab.ts';
import { createPod } from './kubelet.ts';
import { measureOutage } from './outage.ts';
import { realNodeDemo } from './demo-real.ts';
import { killGatewayNode, startAgent, startGateway, startOperator } from './parts.ts';
import { applySgc, gatewayForEgress, inPrefix, startLoop, waitEgress, waitSgcReady } from './scenario.ts';
import { until } from '../testenv/wait.ts';

const started = Date.now();
const say = (line: string) => process.stdout.write(`[${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s] ${line}\n`);
const log = createLogger({ level: process.env.KEG_LAB_LOG === 'debug' ? 'info' : 'warn' });
let lab: Lab | undefined;
let stopping: Promise<void> | undefined;

async function teardown(): Promise<void> {
  stopping ??= (async () => {
    say('Tearing everything down (processes, namespaces, links, API server, emulator) ...');
    await lab?.stop();
  })();
  await stopping;
}

process.once('SIGINT', () => {
  process.stdout.write('\nInterrupted.\n');
  void teardown().then(() => process.exit(130));
});

const realNodes = parseArgs({ options: { 'real-nodes': { type: 'boolean', default: false } } }).values['real-nodes'];

async function demo(): Promise<void> {
  if (realNodes) {
    say('Starting the lab with real nodes: kube-apiserver + etcd, kube-controller-manager, kube-scheduler, the Azure Resource Manager emulator, a VNet of 2 gateway and 2 worker nodes, each with its own kubelet and containerd ...');
    lab = await Lab.start({ log, gateways: 2, workers: 2, realNodes: true, helm: true });
    await realNodeDemo(lab, say);
    return;
  }
  say('Starting the lab: real kube-apiserver + etcd, Azure Resource Manager emulator, a VNet of 2 gateway and 2 worker nodes ...');
  lab = await Lab.start({ log, gateways: 2, workers: 2 });
  for (const m of lab.machines) say(`  node ${m.computerName.padEnd(14)} ${m.ip.padEnd(12)} ${m.gateway ? 'gateway pool' : `worker, pods ${m.podCIDR}`}`);
  say('Starting the operator, a gateway daemon on each gateway node, a node agent on each worker (the product\'s own CLI) ...');
  await startOperator(lab);
  for (const g of lab.gateways) startGateway(lab, g);
  for (const w of lab.workers) await startAgent(lab, w);

  say('kubectl apply: StaticGatewayConfiguration default/egress-demo { gatewayNodepoolName: gwpool }');
  const t0 = Date.now();
  await applySgc(lab, 'default', 'egress-demo', { gatewayNodepoolName: 'gwpool' });
  const sgc = await waitSgcReady(lab, 'default', 'egress-demo');
  const prefix = sgc.status?.egressIpPrefix ?? '?';
  const gw = sgc.status?.gatewayServerProfile;
  say(`egress-demo is Ready after ${((Date.now() - t0) / 1000).toFixed(1)} s: egress prefix ${prefix}, gateway ${gw?.ip}:${gw?.port}`);

  const worker = lab.workers[0] as NonNullable<typeof lab.workers[0]>;
  const annotated = await createPod(lab, worker, { namespace: 'default', name: 'annotated', sgc: 'egress-demo' });
  const plain = await createPod(lab, worker, { namespace: 'default', name: 'plain' });
  const aIp = await waitEgress(lab, annotated);
  const pIp = await waitEgress(lab, plain);
  say(`pod annotated (${annotated.ip}) egresses from ${aIp}: ${inPrefix(aIp, prefix) ? `inside ${prefix}  ✔` : `NOT inside ${prefix}  ✘`}`);
  say(`pod plain     (${plain.ip}) egresses from ${pIp}: ${inPrefix(pIp, prefix) ? 'inside the prefix  ✘' : 'outside the prefix (default outbound)  ✔'}`);

  const victim = gatewayForEgress(lab, aIp);
  if (!victim) throw new Error(`no gateway node owns ${aIp}`);
  say(`Killing gateway node ${victim.computerName}, which serves the annotated pod, while the pod sends a request every 100 ms ...`);
  const loop = startLoop(lab, annotated);
  await until('the request loop to run', () => loop.samples().filter((s) => s.ok).length >= 5, 30_000);
  const killedAt = Date.now();
  await killGatewayNode(lab, victim);
  // Recovered means served by the other gateway: a request started just before
  // the link went down may still have succeeded through the victim.
  await until('egress to recover', () => loop.samples().some((s) => s.t > killedAt && s.ok && s.source !== aIp), 120_000, 250);
  await new Promise((r) => setTimeout(r, 1_000));
  await loop.stop();
  const outage = measureOutage(loop.samples(), killedAt);
  const now = gatewayForEgress(lab, outage.after ?? '');
  say(`Egress recovered through ${now?.computerName ?? '?'}: outage ${(outage.ms / 1000).toFixed(1)} s (${outage.failed} requests failed), now egressing from ${outage.after}`);
}

try {
  await demo();
  await teardown();
  say('Done.');
} catch (err) {
  say(`Demo failed: ${describeError(err)}`);
  if (lab) {
    lab.keepDir = true;
    say(`The log of every part is kept in ${lab.dir}; rerun with KEG_LAB_LOG=debug for the lab's own log.`);
  }
  await teardown();
  process.exitCode = 1;
}
