// The CRDs as users apply them, against a real kube-apiserver: samples,
// defaults, the invalid corpus, printer columns, short name, status.
import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { startTestKube } from '../../testenv/kubeapi/index.ts';
import { tableRow } from '../../testenv/kubeapi/table.ts';
import { CORE, resourcePath } from '../kube/paths.ts';
import { KubeApiError } from '../kube/rest.ts';
import { patchStatusIfChanged, setCondition } from '../kube/status.ts';
import { GROUP, VERSION } from './constants.ts';
import { invalidSgcCases, sgcObject, validSgcCases } from './corpus.ts';
import { RESOURCES } from './resources.ts';
import { StaticGatewayConfigurationSchema, parseObject, type StaticGatewayConfiguration } from './v1alpha1.ts';

const SAMPLES = fileURLToPath(new URL('../../config/samples/', import.meta.url));
const SGC = RESOURCES.StaticGatewayConfiguration;

t.test('CRDs on a real apiserver', async (t) => {
  const kube = await startTestKube(t);
  const rest = kube.rest;
  for (const ns of ['samples', 'corpus', 'valid', 'status']) await rest.create(resourcePath(CORE.namespaces), { metadata: { name: ns } });

  await t.test('every sample applies and reads back with defaults filled', async (t) => {
    const files = readdirSync(SAMPLES).filter((f) => f.endsWith('.yaml'));
    t.ok(files.length >= 3);
    for (const file of files) {
      const obj = parse(readFileSync(SAMPLES + file, 'utf8')) as { metadata: { name: string } };
      await rest.create(resourcePath(SGC, 'samples'), obj);
      const back = parseObject(StaticGatewayConfigurationSchema, await rest.get(resourcePath(SGC, 'samples', obj.metadata.name)));
      t.type(back.spec.provisionPublicIps, 'boolean', `${file}: provisionPublicIps is filled`);
      t.ok(back.spec.defaultRoute === 'staticEgressGateway' || back.spec.defaultRoute === 'azureNetworking', `${file}: defaultRoute is filled`);
    }
    const nodepool = await rest.get<StaticGatewayConfiguration>(resourcePath(SGC, 'samples', 'egress-public'));
    t.equal(nodepool.spec.defaultRoute, 'staticEgressGateway', 'default route defaults to the gateway');
    t.equal(nodepool.spec.provisionPublicIps, true, 'public IPs default to on');
  });

  await t.test('the invalid corpus is rejected at create, naming the field', async (t) => {
    const cases = invalidSgcCases();
    t.ok(cases.length >= 15, `${cases.length} invalid cases`);
    for (const c of cases) {
      const err = await rest.create(resourcePath(SGC, 'corpus'), sgcObject(c, 'corpus')).then(() => undefined, (e: unknown) => e);
      if (!(err instanceof KubeApiError)) {
        t.fail(`${c.name}: was accepted`);
        continue;
      }
      t.equal(err.status, 422, `${c.name}: 422 Invalid`);
      t.match(err.message, c.expect, `${c.name}: names ${c.expect}`);
      if (c.message) t.match(err.message, c.message, `${c.name}: says "${c.message}"`);
    }
    const left = await rest.get<{ items: unknown[] }>(resourcePath(SGC, 'corpus'));
    t.equal(left.items.length, 0, 'nothing was stored');
  });

  await t.test('valid edge cases are accepted', async (t) => {
    for (const c of validSgcCases()) {
      await t.resolves(rest.create(resourcePath(SGC, 'valid'), sgcObject(c, 'valid')), c.name);
    }
  });

  await t.test('kubectl get shows prefix, gateway IP, port, readiness, serving nodes, peers and age; short name sgc', async (t) => {
    const discovery = await rest.get<{ resources: { name: string; shortNames?: string[] }[] }>(`/apis/${GROUP}/${VERSION}`);
    t.same(discovery.resources.find((r) => r.name === 'staticgatewayconfigurations')?.shortNames, ['sgc']);
    const { priority } = await tableRow(rest, resourcePath(SGC, 'samples'), 'egress-public');
    for (const want of ['Name', 'Prefix', 'Gateway IP', 'Port', 'Ready', 'Serving', 'Peers', 'Age']) t.equal(priority[want], 0, `column ${want}`);
    for (const want of ['Reason', 'Nodepool', 'Gateways']) t.equal(priority[want], 1, `column ${want}, with -o wide`);
  });

  await t.test('status: conditions and observedGeneration are patched only when they change', async (t) => {
    const created = await rest.create<StaticGatewayConfiguration>(resourcePath(SGC, 'status'), sgcObject({ name: 'st', spec: { gatewayNodepoolName: 'pool' } }, 'status'));
    const sgc = parseObject(StaticGatewayConfigurationSchema, created);
    const status = {
      egressIpPrefix: '20.1.2.0/31',
      observedGeneration: sgc.metadata.generation,
      conditions: setCondition([], { type: 'Ready', status: 'False', reason: 'Provisioning', message: 'creating load balancer', observedGeneration: sgc.metadata.generation }),
    };
    const first = await patchStatusIfChanged<object, StaticGatewayConfiguration>(rest, SGC, sgc, status);
    t.ok(first, 'first patch writes');
    const after = parseObject(StaticGatewayConfigurationSchema, first);
    t.equal(after.status?.conditions?.[0]?.reason, 'Provisioning');
    t.equal(after.metadata.generation, sgc.metadata.generation, 'a status write does not bump the generation');
    const again = await patchStatusIfChanged(rest, SGC, after, { ...status, conditions: setCondition(after.status?.conditions, { type: 'Ready', status: 'False', reason: 'Provisioning', message: 'creating load balancer', observedGeneration: sgc.metadata.generation }) });
    t.equal(again, undefined, 'the same status costs no write');
    const stale = { ...after, metadata: { ...after.metadata, resourceVersion: sgc.metadata.resourceVersion } };
    const conflict = await patchStatusIfChanged(rest, SGC, stale, { egressIpPrefix: 'x' }, { optimistic: true }).catch((e: unknown) => e);
    t.match(conflict, { status: 409 }, 'an optimistic patch on a stale object conflicts');
  });
});
