import t from 'tap';
import { gatewayConfig } from '../cni/manager/gateway.ts';
import { PROFILE_CONDITION } from '../lib/api/gateway-profile.ts';
import { RESOURCES } from '../lib/api/resources.ts';
import type { GatewayVMConfiguration, StaticGatewayConfiguration } from '../lib/api/v1alpha1.ts';
import { resourcePath } from '../lib/kube/paths.ts';
import { REASONS } from './reasons.ts';
import { POOL, POOL_VMSS, createSgc, startOperator, startWorld, waitFor, waitReady } from './testing.ts';

const NS = 'default';
const profileCondition = (sgc: StaticGatewayConfiguration) => sgc.status?.conditions?.find((c) => c.type === PROFILE_CONDITION);

t.test('transient Azure failures of the drift check drop Ready, never the gateway profile pods are wired to', async (t) => {
  const w = await startWorld(t);
  const { rest } = w.kube;
  // Few, fast retries: the injected 429s outlast them.
  const op = await startOperator(t, w, { vmRequeueMs: 1_000, tuning: { maxRetries: 1, retryBaseDelayMs: 50, retryMaxDelayMs: 100 } });
  const readyCount = async () => Number(/^keg_operator_sgc_ready_seconds_count\{[^}]*\} (\d+)$/m.exec(await op.registry.getSingleMetricAsString('keg_operator_sgc_ready_seconds'))?.[1]);
  await createSgc(rest, NS, 'gw', { gatewayNodepoolName: POOL });
  const ready = await waitReady(rest, NS, 'gw', 'True', 90_000);
  t.equal(await readyCount(), 1, 'the time from creation to Ready is observed once');
  t.match(await op.registry.getSingleMetricAsString('keg_operator_sgc_ready'), /keg_operator_sgc_ready\{sgc="default\/gw",component="operator"\} 1/);
  t.match(profileCondition(ready), { status: 'True', reason: REASONS.provisioned, message: /frontend .*:\d+, 2 gateway IP\(s\)/ });
  const before = gatewayConfig(ready, []);
  const vmPath = resourcePath(RESOURCES.GatewayVMConfiguration, NS, 'gw');
  const nodes = async () => ((await rest.get<GatewayVMConfiguration>(vmPath)).status?.gatewayVMProfiles ?? []).map((p) => p.nodeName);

  await t.test('the VMSS read is throttled past the retries', async (t) => {
    w.emu.inject({ method: 'GET', pathPattern: new RegExp(`virtualMachineScaleSets/${POOL_VMSS}$`, 'i'), status: 429 });
    t.teardown(() => w.emu.clearFaults());
    const sgc = await waitReady(rest, NS, 'gw', 'False', 30_000, REASONS.azureThrottled);
    t.ok(await waitFor('the gauge', async () => /\} 0$/m.test(await op.registry.getSingleMetricAsString('keg_operator_sgc_ready')), 5_000), 'keg_operator_sgc_ready drops to 0');
    t.match(profileCondition(sgc), { status: 'True' }, 'the profile stays provisioned');
    t.same(gatewayConfig(sgc, []), before, 'the agent still wires new pods, to the same gateway');
  });

  await t.test('one instance cannot be read: the others keep their gateway IPs, pods are still wired', async (t) => {
    await waitReady(rest, NS, 'gw', 'True', 30_000);
    w.emu.inject({ method: 'GET', pathPattern: /virtualMachines\/1\/networkInterfaces/i, status: 429 });
    t.teardown(() => w.emu.clearFaults());
    const sgc = await waitReady(rest, NS, 'gw', 'False', 30_000, REASONS.instanceIncomplete);
    t.match(sgc.status?.conditions?.find((c) => c.type === 'Ready')?.message, /1 of 2 instance\(s\).*vmss000001/i, 'Ready names the instance');
    t.ok((await nodes()).includes(`${POOL_VMSS}000000`), 'the readable instance keeps its profile');
    t.match(profileCondition(sgc), { status: 'True' });
    t.same(gatewayConfig(sgc, []), before);
  });

  await t.test('back to Ready once Azure answers', async (t) => {
    const sgc = await waitReady(rest, NS, 'gw', 'True', 30_000);
    t.match(profileCondition(sgc), { status: 'True', reason: REASONS.provisioned });
    t.equal(await readyCount(), 1, 'Ready again is not a first Ready: not observed');
  });
});
