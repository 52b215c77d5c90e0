// The verbs run in this process (run()), the agent in the lab, on a pod whose
// primary network the real bridge plugin set up: CHECK's drift findings one
// by one, and GC's selection.
import t from 'tap';
import { ExecRunner, inNetns } from '../../lib/exec/runner.ts';
import { generatePrivateKey } from '../../lib/wireguard/keys.ts';
import { startAgent } from '../../testenv/cni/agent.ts';
import { createNode, createPod, createSgc, ensureNamespace, setSgcStatus } from '../../testenv/cni/cluster.ts';
import { CniLab } from '../../testenv/cni/lab.ts';
import { startTestKube } from '../../testenv/kubeapi/index.ts';
import { tempNetns } from '../../testenv/netns.ts';
import { run } from './run.ts';
import { ResultSchema } from './spec.ts';

const runner = new ExecRunner();

t.test('CHECK finds each kind of drift; GC keeps valid attachments (by CNI_IFNAME) and removes the rest', async (t) => {
  const kube = await startTestKube(t);
  const lab = await CniLab.create(t, { subnetOctet: 80 });
  await ensureNamespace(kube.rest, 'ns-v');
  await createNode(kube.rest, 'node-v', lab.subnet);
  await startAgent(t, lab, kube, 'node-v');
  const sgc = await createSgc(kube.rest, 'ns-v', 'egress');
  const gwKey = generatePrivateKey().publicKey();
  await setSgcStatus(kube.rest, 'ns-v', 'egress', sgc.generation, { ip: '192.168.210.1', port: 6001, publicKey: gwKey });

  const pods: { id: string; netns: string }[] = [];
  for (const name of ['v-1', 'v-2']) {
    await createPod(kube.rest, 'ns-v', name, 'egress');
    const ns = await tempNetns(t, 'pod');
    const primary = await lab.cnitool('add', ns.path, {}, lab.primaryNet);
    t.ok(primary.ok, 'primary plugin ADD');
    t.teardown(() => lab.cnitool('del', ns.path, {}, lab.primaryNet));
    const id = `verbs-${name}`;
    // v-2's runtime interface name is not its default-route device (eth0), as under a meta plugin.
    const env = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: id, CNI_NETNS: ns.path, CNI_IFNAME: name === 'v-2' ? 'net1' : 'eth0', CNI_PATH: lab.binDir, CNI_ARGS: `K8S_POD_NAMESPACE=ns-v;K8S_POD_NAME=${name}` };
    const conf = lab.pluginConf({ prevResult: ResultSchema.parse(JSON.parse(primary.stdout)) });
    const add = await run({ env, stdin: JSON.stringify(conf), writeLog: () => {} });
    t.equal(add.exitCode, 0, `ADD (annotation asked from the agent) ${add.exitCode ? add.stdout : ''}`);
    pods.push({ id, netns: ns.path });
  }
  const [one, two] = pods as [typeof pods[0], typeof pods[0]];
  const verb = async (command: string, p: { id: string; netns: string }, extra: Record<string, unknown> = {}) =>
    run({ env: { CNI_COMMAND: command, CNI_CONTAINERID: p.id, CNI_NETNS: p.netns, CNI_IFNAME: 'eth0', CNI_PATH: lab.binDir }, stdin: JSON.stringify(lab.pluginConf(extra)), writeLog: () => {} });
  const pod = inNetns(runner, one.netns);
  t.equal((await verb('CHECK', one)).exitCode, 0, 'CHECK clean');
  const drifts: [string, string[], RegExp][] = [
    ['nft table', ['nft', 'delete', 'table', 'inet', 'keg_cni'], /nft table inet keg_cni is missing/],
    ['rule', ['ip', 'rule', 'del', 'priority', '1000'], /ingress policy rule is missing/],
    ['default route', ['ip', 'route', 'del', 'default'], /route 0\.0\.0\.0\/0 dev wg0 is missing/],
    ['link down', ['ip', 'link', 'set', 'wg0', 'down'], /link wg0 is down/],
    ['peer', [], /peer .* \(gateway 192\.168\.210\.1:6001\) is missing/],
    ['link', ['ip', 'link', 'del', 'wg0'], /link wg0 is missing/],
  ];
  for (const [what, argv, msg] of drifts) {
    if (what === 'peer') {
      await runner.run(['wg', 'set', lab.hostLinkOf(one.id), 'peer', gwKey, 'remove']);
    } else {
      await pod.run(argv);
    }
    const r = await verb('CHECK', one);
    t.equal(r.exitCode, 1, `${what}: CHECK fails`);
    t.match(JSON.parse(r.stdout), { code: 100, msg }, `${what}: named`);
  }

  const gc = await verb('GC', one, { 'cni.dev/valid-attachments': [{ containerID: two.id, ifname: 'net1' }] });
  t.same([gc.exitCode, gc.stdout], [0, '']);
  t.equal((await verb('CHECK', two)).exitCode, 0, 'the valid attachment is untouched (matched by the runtime\'s CNI_IFNAME, not the pod\'s default-route device)');
  t.ok(await inNetns(runner, two.netns).run(['ip', 'link', 'show', 'wg0']), 'and still wired');
  t.equal((await verb('CHECK', one)).exitCode, 0, 'the stale one is gone (no record: nothing to check)');
  t.equal((await verb('DEL', two)).exitCode, 0);
  t.equal((await verb('STATUS', two)).exitCode, 0);
});
