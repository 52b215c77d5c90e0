import t from 'tap';
import { randomBytes } from 'node:crypto';
import { parseCniArgs, parseEnv, parseNetConf, podIpv4, CniError } from './spec.ts';
import { run } from './run.ts';

const CONF = { cniVersion: '1.1.0', name: 'net', type: 'kube-egress-cni' };
const ENV = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c1', CNI_NETNS: '/var/run/netns/x', CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin' };

async function invoke(env: Record<string, string>, stdin: string) {
  const logs: string[] = [];
  const out = await run({ env, stdin, writeLog: (l) => logs.push(l) });
  return { ...out, logs, json: out.stdout ? (JSON.parse(out.stdout) as Record<string, unknown>) : undefined };
}

t.test('errors are the spec JSON on stdout with a non-zero exit', async (t) => {
  const cases: [string, Record<string, string>, string, number, RegExp][] = [
    ['garbage stdin', ENV, 'not json at all', 6, /not JSON/],
    ['JSON that is not an object', ENV, '[1,2]', 6, /not a JSON object/],
    ['unknown cniVersion', ENV, JSON.stringify({ ...CONF, cniVersion: '9.9.9' }), 1, /incompatible CNI version "9\.9\.9"/],
    ['no cniVersion', ENV, JSON.stringify({ name: 'x', type: 'kube-egress-cni' }), 7, /no cniVersion/],
    ['wrong type', ENV, JSON.stringify({ ...CONF, type: 'other' }), 7, /invalid network configuration/],
    ['relative socketPath', ENV, JSON.stringify({ ...CONF, socketPath: 'x.sock' }), 7, /socketPath/],
    ['missing CNI_COMMAND', { CNI_PATH: '/x' }, JSON.stringify(CONF), 4, /CNI_COMMAND is not set/],
    ['unknown CNI_COMMAND', { ...ENV, CNI_COMMAND: 'FROB' }, JSON.stringify(CONF), 4, /unknown CNI_COMMAND "FROB"/],
    ['ADD without CNI_NETNS', { ...ENV, CNI_NETNS: '' }, JSON.stringify(CONF), 4, /ADD needs CNI_NETNS/],
    ['DEL without CNI_CONTAINERID', { ...ENV, CNI_COMMAND: 'DEL', CNI_CONTAINERID: '' }, JSON.stringify(CONF), 4, /DEL needs CNI_CONTAINERID/],
    ['relative CNI_NETNS', { ...ENV, CNI_NETNS: 'x' }, JSON.stringify(CONF), 4, /absolute/],
    ['bad CNI_ARGS', { ...ENV, CNI_ARGS: 'novalue' }, JSON.stringify(CONF), 4, /CNI_ARGS: invalid pair/],
    ['ADD without prevResult', ENV, JSON.stringify(CONF), 7, /chained plugin/],
  ];
  for (const [what, env, stdin, code, msg] of cases) {
    const r = await invoke(env, stdin);
    t.equal(r.exitCode, 1, `${what}: exit 1`);
    t.match(r.json, { code, msg }, `${what}: code ${code}`);
    t.ok(r.logs.length > 0 && r.logs.every((l) => JSON.parse(l)), `${what}: logged as JSON on stderr`);
  }
  const big = await invoke(ENV, JSON.stringify({ ...CONF, pad: 'x'.repeat(1 << 20) }));
  t.match(big.json, { code: 6, msg: /larger than/ });
});

t.test('VERSION answers in the asked version, or the latest', async (t) => {
  const all = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'];
  t.same((await invoke({ CNI_COMMAND: 'VERSION' }, '{"cniVersion":"1.0.0"}')).json, { cniVersion: '1.0.0', supportedVersions: all });
  t.same((await invoke({ CNI_COMMAND: 'VERSION' }, '{"cniVersion":"0.2.0"}')).json, { cniVersion: '1.1.0', supportedVersions: all });
  t.same((await invoke({ CNI_COMMAND: 'VERSION' }, 'garbage')).json?.cniVersion, '1.1.0');
});

t.test('plain pods: ADD passes prevResult through untouched, DEL/CHECK/STATUS succeed without an agent', async (t) => {
  const prevResult = { cniVersion: '1.1.0', interfaces: [{ name: 'eth0', sandbox: '/x', mac: 'aa:bb:cc:dd:ee:ff', extra: 1 }], ips: [{ address: '10.1.0.5/24', gateway: '10.1.0.1', interface: 0 }], dns: {}, custom: { kept: true } };
  const stateDir = `/tmp/keg-spec-${randomBytes(4).toString('hex')}`;
  const conf = { ...CONF, stateDir, socketPath: '/nonexistent/agent.sock', prevResult, runtimeConfig: { 'io.kubernetes.cri.pod-annotations': { other: 'x' } } };
  const add = await invoke({ ...ENV, CNI_ARGS: 'K8S_POD_NAMESPACE=a;K8S_POD_NAME=b' }, JSON.stringify(conf));
  t.equal(add.exitCode, 0);
  t.same(add.json, prevResult);
  const noPod = await invoke(ENV, JSON.stringify({ ...conf, runtimeConfig: undefined }));
  t.same(noPod.json, prevResult, 'not a Kubernetes pod (no K8S_POD_* args): plain, no agent asked');
  for (const verb of ['DEL', 'CHECK', 'STATUS', 'GC']) {
    const r = await invoke({ ...ENV, CNI_COMMAND: verb }, JSON.stringify(conf));
    t.same([r.exitCode, r.stdout], [0, ''], verb);
  }
  const asked = await invoke({ ...ENV, CNI_ARGS: 'K8S_POD_NAMESPACE=a;K8S_POD_NAME=b' }, JSON.stringify({ ...conf, runtimeConfig: undefined }));
  t.match(asked.json, { code: 11, msg: /pod a\/b: the kube-egress-gateway node agent is not reachable at \/nonexistent\/agent\.sock/ }, 'no annotations capability: the agent is asked, and its absence is code 11');
});

t.test('small parsers', async (t) => {
  t.same(parseCniArgs('IgnoreUnknown=1;K8S_POD_NAME=a=b;'), { IgnoreUnknown: '1', K8S_POD_NAME: 'a=b' });
  t.throws(() => parseCniArgs('=x'), CniError);
  t.equal(podIpv4({ cniVersion: '1.1.0', ips: [{ address: 'fd00::5/64' }, { address: '10.0.0.5/24' }] }), '10.0.0.5/32');
  t.equal(podIpv4({ cniVersion: '1.1.0' }), undefined);
  t.match(parseEnv({ CNI_COMMAND: 'STATUS' }), { command: 'STATUS', args: {} });
  t.match(parseNetConf(JSON.stringify(CONF)), { socketPath: '/var/run/kube-egress-gateway/cni.sock', logLevel: 'warn' });
});

/** Mutations of a valid configuration: truncations, byte flips, type swaps, random JSON. */
function mutate(base: string, rnd: () => number): string {
  const pick = Math.floor(rnd() * 5);
  const i = Math.floor(rnd() * base.length);
  if (pick === 0) return base.slice(0, i);
  if (pick === 1) return base.slice(0, i) + String.fromCharCode(Math.floor(rnd() * 256)) + base.slice(i + 1);
  if (pick === 2) return base.replace(/"[^"]*"/, ['1', 'null', '[]', '{}', 'true', '"\\u0000"'][Math.floor(rnd() * 6)]!);
  if (pick === 3) return randomBytes(Math.floor(rnd() * 64)).toString('latin1');
  return JSON.stringify({ ...JSON.parse(base), [`k${i}`]: rnd() > 0.5 ? { nested: [i] } : i, prevResult: rnd() > 0.5 ? 'x' : { cniVersion: 1 } });
}

t.test('fuzz: every mutated stdin gets a well-formed answer, never a crash', async (t) => {
  let seed = 12345;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const base = JSON.stringify({ ...CONF, socketPath: '/nonexistent/a.sock', stateDir: '/nonexistent/state', prevResult: { cniVersion: '1.1.0', ips: [{ address: '10.0.0.2/24' }] } });
  const codes = new Map<number, number>();
  for (let n = 0; n < 1500; n++) {
    const stdin = mutate(base, rnd);
    const r = await invoke({ ...ENV, CNI_COMMAND: ['ADD', 'DEL', 'CHECK', 'STATUS', 'GC'][n % 5]! }, stdin);
    if (r.exitCode === 0) continue;
    const code = r.json?.code as number;
    if (typeof code !== 'number' || typeof r.json?.msg !== 'string' || ![1, 4, 6, 7, 11].includes(code)) {
      t.fail(`unexpected answer for ${JSON.stringify(stdin)}: ${r.stdout}`);
      return;
    }
    codes.set(code, (codes.get(code) ?? 0) + 1);
  }
  t.ok(codes.get(6)! > 0 && codes.get(7)! > 0, `decode and config errors both exercised: ${JSON.stringify([...codes])}`);
});
