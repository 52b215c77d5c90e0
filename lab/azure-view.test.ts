import t from 'tap';
import { azureView } from './azure-view.ts';

const SUB = '/subscriptions/s/resourceGroups/rg';
const LB = `${SUB}/providers/Microsoft.Network/loadBalancers/kubeegressgateway-ilb`;
const POOL = `${LB}/backendAddressPools/vmss-uid`;
const nic = (vm: number, primaryIp: string, secondary?: { ip: string; pub?: string }) => ({
  type: 'Microsoft.Network/networkInterfaces',
  properties: {
    ipConfigurations: [
      { id: `${SUB}/vm${vm}/nic/ipConfigurations/primary`, properties: { primary: true, privateIPAddress: primaryIp, loadBalancerBackendAddressPools: [{ id: POOL.toUpperCase() }] } },
      ...(secondary ? [{
        id: `${SUB}/vm${vm}/nic/ipConfigurations/egressgateway-x`,
        properties: { primary: false, privateIPAddress: secondary.ip, ...(secondary.pub ? { publicIPAddress: { properties: { ipAddress: secondary.pub } } } : {}) },
      }] : []),
    ],
  },
});

t.test('rules, pools, secondary IPs and public IPs become router config', async (t) => {
  const inventory = {
    [`${SUB}/vm0/nic`.toLowerCase()]: nic(0, '10.224.0.5', { ip: '10.224.0.9', pub: '20.0.0.1' }),
    [`${SUB}/vm1/nic`.toLowerCase()]: nic(1, '10.224.0.4', { ip: '10.224.0.8', pub: '20.0.0.0' }),
    [`${SUB}/vm2/nic`.toLowerCase()]: { type: 'Microsoft.Network/networkInterfaces', properties: { ipConfigurations: [{ id: 'w', properties: { primary: true, privateIPAddress: '10.224.0.6' } }] } },
    [LB.toLowerCase()]: {
      type: 'Microsoft.Network/loadBalancers',
      properties: {
        frontendIPConfigurations: [{ id: `${LB}/frontendIPConfigurations/vmss-uid`, properties: { privateIPAddress: '10.224.0.7' } }],
        loadBalancingRules: [
          { properties: { frontendIPConfiguration: { id: `${LB}/frontendIPConfigurations/vmss-uid` }, backendAddressPool: { id: POOL }, frontendPort: 6000, probe: { id: `${LB}/probes/p1` } } },
          { properties: { frontendIPConfiguration: { id: `${LB}/frontendIPConfigurations/gone` }, frontendPort: 6001, probe: { id: `${LB}/probes/p1` } } },
        ],
        probes: [{ id: `${LB}/probes/p1`, properties: { port: 8082, requestPath: '/gw/sgc-uid', intervalInSeconds: 5, probeThreshold: 2 } }],
      },
    },
    '/subscriptions/s/resourcegroups/rg': { name: 'rg' },
  };
  t.same(azureView(inventory), {
    frontends: [{ ip: '10.224.0.7', port: 6000, probePort: 8082, probePath: '/gw/sgc-uid', probeThreshold: 2, backends: ['10.224.0.4', '10.224.0.5'] }],
    secondaryRoutes: [{ ip: '10.224.0.9', nodeIp: '10.224.0.5' }, { ip: '10.224.0.8', nodeIp: '10.224.0.4' }],
    publicIps: [{ privateIp: '10.224.0.9', publicIp: '20.0.0.1' }, { privateIp: '10.224.0.8', publicIp: '20.0.0.0' }],
  });
  t.same(azureView({}), { frontends: [], secondaryRoutes: [], publicIps: [] });
});
