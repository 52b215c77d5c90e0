import t from 'tap';
import { GATEWAY_PORT_RANGE_END, GATEWAY_PORT_RANGE_START } from '../lib/api/constants.ts';
import { choosePort, ensureGateway, frontendIp, isEmpty, newLoadBalancer, removeGateway } from './lb-model.ts';

const ctx = { lbId: '/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/loadBalancers/ilb', subnetId: '/sub/net', location: 'eastus', probePort: 8082 };
const gw = (n: string, pool = 'vmss-a') => ({ lbConfigUid: `lb-${n}`, sgcUid: `sgc-${n}`, vmssUniqueId: pool });

t.test('ensureGateway builds frontend, pool, probe and rule, then is a no-op', async (t) => {
  const lb = newLoadBalancer(ctx);
  t.same(ensureGateway(lb, ctx, gw('1')), { port: GATEWAY_PORT_RANGE_START, changed: true });
  t.same(ensureGateway(lb, ctx, gw('1')), { port: GATEWAY_PORT_RANGE_START, changed: false }, 'steady state: no change');
  t.equal(lb.frontendIPConfigurations?.length, 1);
  t.same(lb.probes?.[0], { name: 'lb-1', protocol: 'Http', port: 8082, requestPath: '/gw/sgc-1', intervalInSeconds: 5, probeThreshold: 1 });
  const rule = lb.loadBalancingRules?.[0];
  t.equal(rule?.protocol, 'Udp');
  t.equal(rule?.enableFloatingIP, true);
  t.equal(rule?.probe?.id, `${ctx.lbId}/probes/lb-1`);
  // Ids as ARM returns them may differ in case: still no change.
  rule!.frontendIPConfiguration!.id = rule!.frontendIPConfiguration!.id!.toUpperCase();
  t.equal(ensureGateway(lb, ctx, gw('1')).changed, false);
  rule!.enableFloatingIP = false;
  t.equal(ensureGateway(lb, ctx, gw('1')).changed, true, 'a drifted rule is corrected');
  lb.probes![0]!.requestPath = '/wrong';
  t.equal(ensureGateway(lb, ctx, gw('1')).changed, true, 'a drifted probe is corrected');
  t.equal(lb.probes?.length, 1);
  t.equal(ensureGateway(lb, { ...ctx, probePort: 9082 }, gw('1')).changed, true, 'a new probe port (--gateway-lb-probe-port) is applied');
  t.equal(lb.probes?.[0]?.port, 9082);
  lb.probes![0]!.intervalInSeconds = 15;
  t.equal(ensureGateway(lb, ctx, gw('1')).changed, true, 'a drifted probe interval is corrected');
  lb.probes![0]!.probeThreshold = 2;
  t.equal(ensureGateway(lb, ctx, gw('1')).changed, true, 'a drifted probe threshold is corrected');
  t.equal(lb.probes?.[0]?.probeThreshold, 1);
});

t.test('frontend: IPv4 as Go writes it', async (t) => {
  const lb = newLoadBalancer(ctx);
  ensureGateway(lb, ctx, gw('1'));
  t.equal(lb.frontendIPConfigurations?.[0]?.privateIPAddressVersion, 'IPv4');
  delete lb.frontendIPConfigurations![0]!.privateIPAddressVersion;
  t.equal(ensureGateway(lb, ctx, gw('1')).changed, true, 'a frontend without a version gets IPv4');
  lb.frontendIPConfigurations![0]!.privateIPAddressVersion = 'IPv6';
  t.throws(() => ensureGateway(lb, ctx, gw('1')), { code: 'LB_FRONTEND_UNEXPECTED' });
});

t.test('ports: lowest free per pool, stable per rule', async (t) => {
  const lb = newLoadBalancer(ctx);
  t.equal(ensureGateway(lb, ctx, gw('1')).port, 6000);
  t.equal(ensureGateway(lb, ctx, gw('2')).port, 6001);
  t.equal(ensureGateway(lb, ctx, gw('3')).port, 6002);
  t.equal(ensureGateway(lb, ctx, gw('x', 'vmss-b')).port, 6000, 'another pool has its own ports');
  t.equal(lb.frontendIPConfigurations?.length, 2);
  removeGateway(lb, ctx, gw('2'));
  t.equal(ensureGateway(lb, ctx, gw('4')).port, 6001, 'a freed port is reused');
  t.equal(ensureGateway(lb, ctx, gw('3')).port, 6002, 'existing rules keep their port');
  const full = newLoadBalancer(ctx);
  for (let p = GATEWAY_PORT_RANGE_START; p < GATEWAY_PORT_RANGE_END; p++) {
    full.loadBalancingRules!.push({ name: `r${p}`, frontendPort: p, backendAddressPool: { id: `${ctx.lbId}/backendAddressPools/vmss-a` } });
  }
  t.throws(() => choosePort(full, ctx, gw('new')), { code: 'LB_PORTS_EXHAUSTED' });
});

t.test('removeGateway: rule and probe, then frontend and pool when unused', async (t) => {
  const lb = newLoadBalancer(ctx);
  ensureGateway(lb, ctx, gw('1'));
  ensureGateway(lb, ctx, gw('2'));
  t.same(removeGateway(lb, ctx, gw('1')), { changed: true, clean: true }, 'clean: gateway 2 uses frontend and pool');
  t.equal(lb.frontendIPConfigurations?.length, 1, 'frontend kept: gateway 2 uses it');
  t.same(removeGateway(lb, ctx, gw('1')), { changed: false, clean: true }, 'already gone');
  lb.backendAddressPools![0] = { ...lb.backendAddressPools![0], backendIPConfigurations: [{ id: 'nic' }] } as never;
  t.same(removeGateway(lb, ctx, gw('2')), { changed: true, clean: false }, 'not clean while a NIC holds the pool');
  t.equal(lb.backendAddressPools?.length, 1, 'pool kept while a NIC is in it');
  t.notOk(isEmpty(lb));
  t.same(removeGateway(lb, ctx, gw('2')), { changed: false, clean: false }, 'still not clean');
  lb.backendAddressPools![0] = { name: 'vmss-a' };
  t.same(removeGateway(lb, ctx, gw('2')), { changed: true, clean: true });
  t.ok(isEmpty(lb));
  t.equal(frontendIp(lb, 'vmss-a'), undefined);
  const bare = { location: 'x' };
  t.ok(isEmpty(bare));
  t.equal(removeGateway(bare, ctx, gw('9')).changed, true, 'normalises absent lists');
});
