// No secret reaches a log line, an event, an object's status or a file the
// product wrote: the whole lab runs (operator, gateways, agents, pods), then
// everything it left is searched for every private key, the AAD client
// secret and every ServiceAccount token, in the forms a leak would take.
import { lstatSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import t from 'tap';
import { SECRET_KEY_PRIVATE } from '../lib/api/constants.ts';
import { RESOURCES } from '../lib/api/resources.ts';
import { CORE, resourcePath } from '../lib/kube/paths.ts';
import { WgLinks } from '../lib/wireguard/link.ts';
import { createPod, type LabPod } from '../lab/kubelet.ts';
import type { Lab } from '../lab/lab.ts';
import { applySgc, waitEgress, waitSgcReady } from '../lab/scenario.ts';
import { KEY_SECRET_NAMESPACE } from '../testenv/helm/accounts.ts';
import { rbacDenials, startE2eLab } from './fixture.ts';

interface Secret {
  what: string;
  /** The value as written, and encodings a careless log line would use. */
  forms: string[];
}
interface Haystack {
  where: string;
  text: string;
}

const b64 = (s: string) => Buffer.from(s).toString('base64');

/** A WireGuard key in every form it could leak in: base64 (wg), base64 again (Secret data), hex (a Buffer). */
function keyForms(key: string): string[] {
  return [key, b64(key), Buffer.from(key, 'base64').toString('hex')];
}

/** A JWT, and its signature alone (enough to replay it with the header and claims, which are not secret). */
function tokenForms(token: string): string[] {
  return [token, token.split('.').at(-1) as string];
}

/** Every (secret, place) pair where a form of the secret occurs. */
function findSecrets(secrets: Secret[], haystacks: Haystack[]): string[] {
  const hits: string[] = [];
  for (const s of secrets) {
    for (const h of haystacks) if (s.forms.some((f) => h.text.includes(f))) hits.push(`${s.what} in ${h.where}`);
  }
  return hits;
}

/** Files the harness itself wrote with credentials in them: the parts' inputs, not their output. */
const HARNESS_CREDENTIALS = /(^|\/)(kubeconfig|operator\.kubeconfig|azure\.json)$/;

function filesUnder(dir: string): Haystack[] {
  const out: Haystack[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const st = lstatSync(path);
    if (st.isDirectory()) out.push(...filesUnder(path));
    else if (st.isFile() && !HARNESS_CREDENTIALS.test(path)) out.push({ where: path, text: readFileSync(path).toString('latin1') });
  }
  return out;
}

async function collectSecrets(lab: Lab, pods: LabPod[]): Promise<Secret[]> {
  const secrets: Secret[] = [];
  const keySecrets = await lab.kube.rest.get<{ items: { metadata: { name: string }; data?: Record<string, string> }[] }>(resourcePath(CORE.secrets, KEY_SECRET_NAMESPACE));
  for (const s of keySecrets.items) {
    const encoded = s.data?.[SECRET_KEY_PRIVATE];
    if (encoded) secrets.push({ what: `gateway private key (${s.metadata.name})`, forms: keyForms(Buffer.from(encoded, 'base64').toString().trim()) });
  }
  const links = new WgLinks(lab.runner);
  for (const pod of pods) {
    const link = await links.find('wg0', pod.netns.path);
    if (!link) continue;
    const key = (await lab.runner.run(['wg', 'show', link.wgName, 'private-key'])).stdout.trim();
    secrets.push({ what: `pod private key (${pod.namespace}/${pod.name})`, forms: keyForms(key) });
  }
  const cloud = JSON.parse(readFileSync(join(lab.dir, 'azure.json'), 'utf8')) as { aadClientSecret: string };
  secrets.push({ what: 'AAD client secret', forms: [cloud.aadClientSecret, b64(cloud.aadClientSecret)] });
  for (const file of kubeconfigs(lab)) {
    const kc = new KubeConfig();
    kc.loadFromFile(file);
    const token = kc.getCurrentUser()?.token;
    if (token) secrets.push({ what: `ServiceAccount token (${relative(lab.dir, file)})`, forms: tokenForms(token) });
  }
  return secrets;
}

function kubeconfigs(lab: Lab): string[] {
  return [join(lab.dir, 'operator.kubeconfig'), ...lab.machines.map((m) => join(m.dir, 'kubeconfig'))];
}

/** Every log line and file the lab's processes wrote, every event, and every object of the product's kinds. */
async function collectHaystacks(lab: Lab): Promise<Haystack[]> {
  const out = filesUnder(lab.dir);
  for (const path of ['/api/v1/events', '/apis/events.k8s.io/v1/events', '/api/v1/pods',
    ...[RESOURCES.StaticGatewayConfiguration, RESOURCES.GatewayVMConfiguration, RESOURCES.PodEndpoint, RESOURCES.GatewayStatus].map((r) => resourcePath(r))]) {
    out.push({ where: `GET ${path}`, text: JSON.stringify(await lab.kube.rest.get(path)) });
  }
  return out;
}

t.test('no secret in any log, event, status or file the product wrote', async (t) => {
  const lab = await startE2eLab(t);
  await applySgc(lab, 'default', 'sgc', { gatewayNodepoolName: 'gwpool' });
  await waitSgcReady(lab, 'default', 'sgc');
  const pods: LabPod[] = [];
  for (const [i, w] of lab.workers.entries()) {
    const pod = await createPod(lab, w, { namespace: 'default', name: `pod-${i}`, sgc: 'sgc' });
    await waitEgress(lab, pod);
    pods.push(pod);
  }
  // Let a full resync and a status write happen, so their logs are in too.
  await new Promise((r) => setTimeout(r, 3_000));

  const secrets = await collectSecrets(lab, pods);
  const count = (prefix: string) => secrets.filter((s) => s.what.startsWith(prefix)).length;
  t.equal(count('gateway private key'), 1, 'the gateway key pair of the SGC is searched for');
  t.equal(count('pod private key'), pods.length, 'every pod\'s key is searched for');
  t.equal(count('ServiceAccount token'), lab.machines.length + 1, 'every part\'s token is searched for');
  t.equal(count('AAD client secret'), 1);

  const haystacks = await collectHaystacks(lab);
  const logs = haystacks.filter((h) => h.where.endsWith('.log'));
  t.ok(logs.some((h) => h.where.endsWith('/operator.log')) && logs.some((h) => /\/gateway-[^/]+\.log$/.test(h.where)) && logs.some((h) => /\/agent-[^/]+\.log$/.test(h.where)), 'the logs of every part are searched');
  t.ok(haystacks.some((h) => h.where.includes('agent-state')), 'the agents\' state files are searched');
  t.same(findSecrets(secrets, haystacks), [], 'no secret found');

  // The search finds what it looks for: plant a pod key in a log line.
  const planted = join(lab.dir, 'planted.log');
  writeFileSync(planted, `{"msg":"oops","key":"${secrets.find((s) => s.what.startsWith('pod private key'))?.forms[0]}"}\n`);
  t.match(findSecrets(secrets, filesUnder(lab.dir)), [/^pod private key \(default\/pod-0\) in .*\/planted\.log$/], 'a planted key is found');
  t.same(await rbacDenials(lab), [], 'no part was refused by the chart\'s RBAC');
});
