import t from 'tap';
import { gatewayProfileVerdict, PROFILE_CONDITION } from './gateway-profile.ts';
import type { StaticGatewayConfiguration } from './v1alpha1.ts';

const profile = { ip: '10.0.0.9', port: 6000, publicKey: `${'k'.repeat(42)}A=` };
const cond = (type: string, status: 'True' | 'False', reason = 'R') => ({ type, status, reason, message: 'm', lastTransitionTime: '2026-01-01T00:00:00Z', observedGeneration: 2 });

function sgc(conditions: ReturnType<typeof cond>[], extra: { profile?: object; deleting?: boolean } = {}): StaticGatewayConfiguration {
  return {
    apiVersion: 'egressgateway.kubernetes.azure.com/v1alpha1', kind: 'StaticGatewayConfiguration',
    metadata: { name: 'gw', namespace: 'ns', generation: 2, ...(extra.deleting ? { deletionTimestamp: '2026-01-01T00:00:00Z' } : {}) },
    spec: { gatewayNodepoolName: 'p', provisionPublicIps: true, defaultRoute: 'staticEgressGateway', excludeCidrs: [] },
    status: { gatewayServerProfile: extra.profile ?? profile, conditions },
  } as unknown as StaticGatewayConfiguration;
}

t.test('usable on a provisioned profile, whatever the latest Ready', async (t) => {
  t.match(gatewayProfileVerdict(sgc([cond('Ready', 'False', 'AzureThrottled'), cond(PROFILE_CONDITION, 'True')])), { usable: true, ...profile });
  t.match(gatewayProfileVerdict(sgc([cond('Ready', 'True'), cond(PROFILE_CONDITION, 'False', 'InvalidSpec')])), { usable: false, why: /has GatewayProfileReady=False \(InvalidSpec/ });
});

t.test('without the condition (an older operator), Ready decides', async (t) => {
  t.match(gatewayProfileVerdict(sgc([cond('Ready', 'True')])), { usable: true });
  t.match(gatewayProfileVerdict(sgc([cond('Ready', 'False', 'LoadBalancerPending')])), { usable: false, why: /^is not Ready \(LoadBalancerPending/ });
  t.match(gatewayProfileVerdict(sgc([])), { usable: false, why: /no Ready condition yet/ });
});

t.test('never on an incomplete profile or an SGC being deleted', async (t) => {
  t.match(gatewayProfileVerdict(sgc([cond(PROFILE_CONDITION, 'True')], { profile: { ip: '10.0.0.9', publicKey: profile.publicKey } })), { usable: false, why: /no complete gatewayServerProfile/ });
  t.match(gatewayProfileVerdict(sgc([cond(PROFILE_CONDITION, 'True')], { deleting: true })), { usable: false, why: 'is being deleted' });
});
