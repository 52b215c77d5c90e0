import t from 'tap';
import { run } from './run.ts';
import { type CniVersion, SUPPORTED_VERSIONS, type Verb } from './spec.ts';
import { checkVerb, decodeResult, encodeResult } from './versions.ts';

/** What bridge + host-local print in 0.3.x/0.4.0 (ips carry `version`, routes only dst/gw). */
const LEGACY = {
  cniVersion: '0.4.0',
  interfaces: [{ name: 'cni0', mac: '0a:58:0a:f4:00:01' }, { name: 'eth0', mac: '0a:58:0a:f4:00:05', sandbox: '/var/run/netns/p' }],
  ips: [{ version: '4', interface: 1, address: '10.244.0.5/24', gateway: '10.244.0.1' }, { version: '6', interface: 1, address: 'fd00::5/64' }],
  routes: [{ dst: '0.0.0.0/0', gw: '10.244.0.1' }],
  dns: { nameservers: ['10.0.0.10'] },
};
/** The same in 1.1.0, with fields 0.4.0 has no place for. */
const MODERN = {
  cniVersion: '1.1.0',
  interfaces: [{ name: 'cni0', mac: '0a:58:0a:f4:00:01', mtu: 1500 }, { name: 'eth0', mac: '0a:58:0a:f4:00:05', sandbox: '/var/run/netns/p', socketPath: '/s', pciID: '0000:00:01.0' }],
  ips: [{ interface: 1, address: '10.244.0.5/24', gateway: '10.244.0.1' }, { interface: 1, address: 'fd00::5/64' }],
  routes: [{ dst: '0.0.0.0/0', gw: '10.244.0.1', mtu: 1400, advmss: 1360, priority: 5, table: 100, scope: 0 }],
  dns: { nameservers: ['10.0.0.10'] },
};

t.test('0.3.x/0.4.0 results: ips[].version dropped inside, derived again outside; 1.x-only fields dropped on the way down', async (t) => {
  for (const v of ['0.3.0', '0.3.1', '0.4.0'] as const) {
    const inside = decodeResult({ ...LEGACY, cniVersion: v }, v);
    t.notOk(inside.ips!.some((ip) => 'version' in ip), `${v}: no version field inside`);
    t.same(encodeResult(inside, v), { ...LEGACY, cniVersion: v }, `${v}: round trip is exact`);
  }
  const down = encodeResult(decodeResult(MODERN, '1.1.0'), '0.4.0');
  t.same(down, { ...LEGACY, interfaces: [{ name: 'cni0', mac: '0a:58:0a:f4:00:01' }, { name: 'eth0', mac: '0a:58:0a:f4:00:05', sandbox: '/var/run/netns/p' }] }, '1.1.0 to 0.4.0 as libcni converts');
  const up = encodeResult(decodeResult(LEGACY, '0.4.0'), '1.0.0');
  t.same(up, { ...LEGACY, cniVersion: '1.0.0', ips: MODERN.ips }, '0.4.0 to 1.0.0: version gone');
  t.same(encodeResult(decodeResult(MODERN, '1.1.0'), '1.1.0'), MODERN, '1.1.0 unchanged');
});

t.test('a prevResult is read in the version it claims, else the configuration\'s; bad ones are refused with the spec\'s codes', async (t) => {
  t.equal(decodeResult({ ips: [{ version: '4', address: '10.0.0.2/24' }] }, '0.3.1').cniVersion, '0.3.1');
  t.throws(() => decodeResult({ cniVersion: '0.2.0', ip4: { ip: '10.0.0.2/24' } }, '0.3.1'), { cniCode: 1, message: /prevResult has incompatible CNI version "0\.2\.0"/ });
  t.throws(() => decodeResult({ cniVersion: '0.4.0', ips: [{ version: '5', address: 'x' }] }, '0.4.0'), { cniCode: 7, message: /invalid prevResult/ });
  t.throws(() => decodeResult('x', '1.0.0'), { cniCode: 7, message: /invalid prevResult/ });
});

function allows(verb: Verb, v: CniVersion): boolean {
  try {
    checkVerb(verb, v);
    return true;
  } catch {
    return false;
  }
}
const allowed = (verb: Verb) => SUPPORTED_VERSIONS.filter((v) => allows(verb, v));

t.test('verbs per version: CHECK from 0.4.0, STATUS and GC only in 1.1.0', async (t) => {
  t.same(allowed('ADD'), SUPPORTED_VERSIONS);
  t.same(allowed('DEL'), SUPPORTED_VERSIONS);
  t.same(allowed('CHECK'), ['0.4.0', '1.0.0', '1.1.0']);
  t.same(allowed('STATUS'), ['1.1.0']);
  t.same(allowed('GC'), ['1.1.0']);
});

const ENV = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c1', CNI_NETNS: '/var/run/netns/x', CNI_IFNAME: 'eth0', CNI_ARGS: 'K8S_POD_NAMESPACE=a;K8S_POD_NAME=b' };
const invoke = async (env: Record<string, string>, stdin: unknown) => run({ env, stdin: JSON.stringify(stdin), writeLog: () => {} });

t.test('through the plugin, in every version: plain pods pass through byte for byte, errors and verbs answer in the version', async (t) => {
  for (const v of SUPPORTED_VERSIONS) {
    const prev = v.startsWith('0.') ? { ...LEGACY, cniVersion: v, vendor: { x: 1 } } : { ...MODERN, cniVersion: v, vendor: { x: 1 } };
    const stdin = { cniVersion: v, name: 'k8s-pod-network', type: 'kube-egress-cni', socketPath: '/nonexistent/a.sock', stateDir: '/nonexistent/s', prevResult: prev, runtimeConfig: { 'io.kubernetes.cri.pod-annotations': {} } };
    const add = await invoke(ENV, stdin);
    t.equal(add.stdout, JSON.stringify(prev), `${v}: ADD of a plain pod prints prevResult exactly`);
    const annotated = await invoke(ENV, { ...stdin, runtimeConfig: { 'io.kubernetes.cri.pod-annotations': { 'kubernetes.azure.com/static-gateway-configuration': 'egress' } } });
    t.match(JSON.parse(annotated.stdout), { cniVersion: v, code: 11, msg: /not reachable/ }, `${v}: an error is in the configuration's version`);
    for (const verb of ['DEL', 'CHECK', 'STATUS', 'GC'] as const) {
      const r = await invoke({ ...ENV, CNI_COMMAND: verb }, stdin);
      if (allows(verb, v)) t.same([r.exitCode, r.stdout], [0, ''], `${v}: ${verb} of a plain pod`);
      else t.match(JSON.parse(r.stdout), { cniVersion: v, code: 1, msg: new RegExp(`configuration version ${v.replaceAll('.', '\\.')} does not allow ${verb}`) }, `${v}: ${verb} refused`);
    }
  }
  const other = await invoke(ENV, { cniVersion: '0.4.0', name: 'n', type: 'kube-egress-cni', prevResult: { ...MODERN, vendor: 1 }, runtimeConfig: { 'io.kubernetes.cri.pod-annotations': {} } });
  t.same(JSON.parse(other.stdout), { ...LEGACY, interfaces: LEGACY.interfaces, vendor: 1 }, 'a prevResult in another version than the configuration\'s is answered in the configuration\'s');
  const garbage = { cniVersion: '0.3.1', name: 'n', type: 'kube-egress-cni', stateDir: '/nonexistent/s', prevResult: { cniVersion: '0.3.1', ips: 'garbage' } };
  t.match(JSON.parse((await invoke(ENV, garbage)).stdout), { code: 7, msg: /invalid prevResult/ }, 'ADD refuses a prevResult it cannot read');
  t.same((await invoke({ ...ENV, CNI_COMMAND: 'DEL' }, garbage)).exitCode, 0, 'DEL does not need the prevResult, so it never fails on one');
  const version = await run({ env: { CNI_COMMAND: 'VERSION' }, stdin: '{"cniVersion":"0.3.0"}', writeLog: () => {} });
  t.same(JSON.parse(version.stdout), { cniVersion: '0.3.0', supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] });
  const old = await invoke(ENV, { cniVersion: '0.2.0', name: 'n', type: 'kube-egress-cni' });
  t.match(JSON.parse(old.stdout), { cniVersion: '1.1.0', code: 1, msg: /incompatible CNI version "0\.2\.0": this plugin supports 0\.3\.0, 0\.3\.1, 0\.4\.0, 1\.0\.0, 1\.1\.0/ });
});
