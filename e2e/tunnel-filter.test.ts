// What a tenant pod can reach through its tunnel: the internet, and not the
// gateway node's own services, link-local/platform addresses or the cluster.
// The pod's routes are forced into wg0 for each target, as a pod with
// NET_ADMIN could do, so the gateway's filter is what is tested, not routing.
import t from 'tap';
import { createPod, type LabPod } from '../lab/kubelet.ts';
import type { Lab } from '../lab/lab.ts';
import { IMDS_IP } from '../lab/lab.ts';
import { applySgc, getFrom, inPrefix, waitEgress, waitSgcReady } from '../lab/scenario.ts';
import { rbacDenials, serveInPod, startE2eLab } from './fixture.ts';

/** A link-local address a gateway node serves itself (as a node-local agent would). */
const GATEWAY_LINK_LOCAL_IP = '169.254.77.1';
const KUBELET_PORT = 10250;

async function throughTunnel(lab: Lab, pod: LabPod, ip: string): Promise<void> {
  await lab.runner.run(['ip', '-n', pod.netns.name, 'route', 'replace', `${ip}/32`, 'dev', 'wg0']);
}

/** Whether a TCP connection from the pod to ip:port opens (whatever the service would then answer). */
async function connects(lab: Lab, pod: LabPod, ip: string, port: number): Promise<string> {
  const script = `const s = require('node:net').connect(${port}, '${ip}'); s.setTimeout(2000, () => process.exit(1));`
    + ` s.on('connect', () => process.exit(0)); s.on('error', () => process.exit(1));`;
  return lab.runner.run(['nsenter', `--net=${pod.netns.path}`, process.execPath, '-e', script]).then(() => 'connected', () => 'unreachable');
}

async function droppedPackets(lab: Lab): Promise<number> {
  let total = 0;
  for (const g of lab.gateways) {
    const text = await getFrom(lab, g.path, 'http://127.0.0.1:8080/metrics');
    for (const m of text.matchAll(/^keg_gateway_tunnel_dropped_packets_total\{[^}]*\} (\d+)$/gm)) total += Number(m[1]);
  }
  return total;
}

t.test('the tunnel reaches the internet and nothing of the gateway node or the cluster', async (t) => {
  const lab = await startE2eLab(t, { workers: 1 });
  const w = lab.workers[0] as NonNullable<typeof lab.workers[0]>;
  for (const g of lab.gateways) {
    lab.procs.startScript(`kubelet-like-${g.computerName}`, g, 'lab/echo.ts', ['--address', '0.0.0.0', '--port', String(KUBELET_PORT)]);
    await lab.runner.run(['ip', '-n', g.name, 'addr', 'add', `${GATEWAY_LINK_LOCAL_IP}/32`, 'dev', 'lo']);
    lab.procs.startScript(`link-local-${g.computerName}`, g, 'lab/echo.ts', ['--address', GATEWAY_LINK_LOCAL_IP, '--port', '80']);
  }
  await applySgc(lab, 'default', 'sgc', { gatewayNodepoolName: 'gwpool' });
  const sgc = await waitSgcReady(lab, 'default', 'sgc');
  const tenant = await createPod(lab, w, { namespace: 'default', name: 'tenant', sgc: 'sgc' });
  const other = await createPod(lab, w, { namespace: 'default', name: 'other' });
  serveInPod(lab, other);
  t.ok(inPrefix(await waitEgress(lab, tenant), sgc.status?.egressIpPrefix as string), 'the internet echo answers through the gateway');

  const targets = [
    ...lab.gateways.flatMap((g) => [
      { what: `${g.computerName}'s kubelet-like port`, ip: g.ip, port: KUBELET_PORT },
      { what: `${g.computerName}'s daemon metrics`, ip: g.ip, port: 8080 },
      { what: `${g.computerName}'s probe port`, ip: g.ip, port: 8082 },
    ]),
    { what: 'a link-local address on the gateway node', ip: GATEWAY_LINK_LOCAL_IP, port: 80 },
    { what: 'the gateway node\'s IMDS (link-local)', ip: IMDS_IP, port: 80 },
    { what: 'a pod of the cluster', ip: other.ip, port: 8080 },
  ];
  for (const x of targets) await throughTunnel(lab, tenant, x.ip);
  const before = await droppedPackets(lab);
  for (const x of targets) t.equal(await connects(lab, tenant, x.ip, x.port), 'unreachable', `${x.what} (${x.ip}:${x.port}) is unreachable through the tunnel`);
  t.ok(inPrefix(await waitEgress(lab, tenant), sgc.status?.egressIpPrefix as string), 'and the internet echo still answers');
  t.ok(await droppedPackets(lab) > before, 'the drops are counted in keg_gateway_tunnel_dropped_packets_total');
  t.same(await rbacDenials(lab), [], 'no part was refused by the chart\'s RBAC');
});
