// Every CNI version a primary network may carry, driven by the real cnitool
// through libcni, with the agent installing and chaining the plugin the way
// it does on a node: for each version a plain pod and an annotated pod in
// both route modes (ADD, CHECK where the version has it, DEL), over the chain
// shapes of AKS's Azure CNI (0.3.0, primary then portmap), kubenet (bridge +
// host-local + portmap, 0.3.1) and a single-plugin .conf (and .json). One agent serves
// the whole matrix; each case rewrites the primary's file, as a primary CNI
// does on upgrade, and waits for the agent to chain again. Needs root.
import t from 'tap';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KINDS } from '../../lib/api/constants.ts';
import { RESOURCES } from '../../lib/api/resources.ts';
import { ExecRunner, inNetns } from '../../lib/exec/runner.ts';
import { resourcePath } from '../../lib/kube/paths.ts';
import { isNotFound } from '../../lib/kube/rest.ts';
import { Ip } from '../../lib/net/ip.ts';
import { generatePrivateKey } from '../../lib/wireguard/keys.ts';
import { startAgent } from '../../testenv/cni/agent.ts';
import { createApiServerSlice, createNode, createPod, createSgc, ensureNamespace, setSgcStatus } from '../../testenv/cni/cluster.ts';
import { CniLab, type PrimaryShape } from '../../testenv/cni/lab.ts';
import { startTestKube } from '../../testenv/kubeapi/index.ts';
import { tempNetns } from '../../testenv/netns.ts';
import { until } from '../../testenv/wait.ts';

const runner = new ExecRunner();
const NS = 'team-m';
const GW = { ip: '192.168.201.10', port: 6000, publicKey: generatePrivateKey().publicKey() };
const SGC_ANNOTATION = 'kubernetes.azure.com/static-gateway-configuration';

const CASES: { version: string; shape: PrimaryShape }[] = [
  { version: '0.3.0', shape: 'azure' },
  { version: '0.3.1', shape: 'kubenet' },
  { version: '0.4.0', shape: 'json' },
  { version: '1.0.0', shape: 'conf' },
  { version: '1.1.0', shape: 'azure' },
];

interface Answer {
  cniVersion: string;
  interfaces?: { name: string }[];
  ips?: { address: string; version?: string }[];
}

t.test('every version, every chain shape: plain and annotated pods in both route modes through cnitool', async (t) => {
  const kube = await startTestKube(t);
  const lab = await CniLab.create(t, { subnetOctet: 81, chained: false });
  await ensureNamespace(kube.rest, NS);
  await createNode(kube.rest, 'node-m', lab.subnet);
  await createApiServerSlice(kube.rest, ['192.168.150.5']);
  for (const [name, defaultRoute] of [['static', 'staticEgressGateway'], ['partial', 'azureNetworking']] as const) {
    const sgc = await createSgc(kube.rest, NS, name, { defaultRoute, excludeCidrs: ['203.0.113.0/24'] });
    await setSgcStatus(kube.rest, NS, name, sgc.generation, GW);
  }
  let primary: string | undefined;
  const own = join(lab.confDir, '01-egressgateway.conflist');
  const writePrimary = (shape: PrimaryShape, version: string) => {
    const file = lab.primaryFile(shape, version);
    if (primary !== undefined && primary !== file.name) rmSync(join(lab.confDir, primary));
    writeFileSync(join(lab.confDir, file.name), JSON.stringify(file.content));
    primary = file.name;
  };
  writePrimary(CASES[0]!.shape, CASES[0]!.version);
  await startAgent(t, lab, kube, 'node-m', [], true);

  let n = 0;
  for (const { version, shape } of CASES) {
    writePrimary(shape, version);
    const chained = () => existsSync(own) && (JSON.parse(readFileSync(own, 'utf8')) as { cniVersion: string }).cniVersion === version;
    await until(`the agent to chain into the ${version} ${shape} network`, chained, 10_000, 50);
    const types = (JSON.parse(readFileSync(own, 'utf8')) as { plugins: { type: string }[] }).plugins.map((p) => p.type);
    t.same(types, shape === 'conf' || shape === 'json' ? ['bridge', 'kube-egress-cni'] : ['bridge', 'portmap', 'kube-egress-cni'], `${version} ${shape}: chained last`);
    const hasCheck = version !== '0.3.0' && version !== '0.3.1';

    for (const sgc of [undefined, 'static', 'partial']) {
      const what = `${version} ${shape} ${sgc ?? 'plain'}`;
      const pod = `pod-${++n}`;
      if (sgc) await createPod(kube.rest, NS, pod, sgc);
      const podNs = await tempNetns(t, 'pod');
      const call = CniLab.podCall(NS, pod, sgc ? { [SGC_ANNOTATION]: sgc } : { 'other.io/x': 'y' });
      const add = await lab.cnitool('add', podNs.path, call);
      t.ok(add.ok, `${what}: ADD ${add.ok ? '' : add.stderr}`);
      if (!add.ok) continue;
      const result = JSON.parse(add.stdout) as Answer;
      t.equal(result.cniVersion, version, `${what}: answered in ${version}`);
      t.same(result.ips?.map((ip) => ip.version), version.startsWith('0.') ? ['4'] : [undefined], `${what}: ips[].version as the version has it`);
      t.equal(result.interfaces?.some((i) => i.name === 'wg0'), sgc !== undefined, `${what}: wg0 in the result only for an annotated pod`);
      const routes = (await new Ip(inNetns(runner, podNs.path)).routes()).filter((r) => r.dst === '0.0.0.0/0' || r.dst === '203.0.113.0/24');
      const want = {
        plain: [`0.0.0.0/0 via ${lab.gateway} dev eth0`],
        static: ['0.0.0.0/0 dev wg0', `203.0.113.0/24 via ${lab.gateway} dev eth0`],
        partial: [`0.0.0.0/0 via ${lab.gateway} dev eth0`, '203.0.113.0/24 dev wg0'],
      }[sgc ?? 'plain'];
      t.same(routes.map((r) => `${r.dst}${r.gateway ? ` via ${r.gateway}` : ''} dev ${r.dev}`), want, `${what}: routes`);
      if (hasCheck) {
        const check = await lab.cnitool('check', podNs.path, call);
        t.ok(check.ok, `${what}: CHECK ${check.ok ? '' : check.stderr}`);
      }
      const del = await lab.cnitool('del', podNs.path, call);
      t.ok(del.ok, `${what}: DEL ${del.ok ? '' : del.stderr}`);
      t.same(existsSync(lab.stateDir) ? readdirSync(lab.stateDir) : [], [], `${what}: no record left`);
      t.same(await lab.podLinksOnNode(), [], `${what}: no host link left`);
      if (sgc) t.ok(await kube.rest.get(resourcePath(RESOURCES[KINDS.PodEndpoint], NS, pod)).then(() => false, isNotFound), `${what}: PodEndpoint deleted`);
    }
  }
});
