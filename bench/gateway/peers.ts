// Gateway daemon benchmark: time to program N peers from PodEndpoint creation
// to all installed on the gateway's link, the daemon's RSS, the size of its
// GatewayStatus and the time of a /metrics scrape at the largest N. Needs root (network namespaces, wireguard-go).
//
//   npx node bench/gateway/peers.ts [--sizes 1000,5000,10000] [--runs 3] [--concurrency 32]
//
// The daemon runs as its own process inside a node namespace (gateway/testing/lab.ts),
// as in the tests; PodEndpoints are created through the real apiserver, and
// "installed" means `wg show <link> peers` lists them all.
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { API_VERSION } from '../../lib/api/constants.ts';
import { RESOURCES } from '../../lib/api/resources.ts';
import { resourcePath } from '../../lib/kube/paths.ts';
import { generatePrivateKey } from '../../lib/wireguard/keys.ts';
import { APP_NS, Lab, NODE, SYSTEM_NS, runner } from '../../gateway/testing/lab.ts';

const { values } = parseArgs({
  options: { sizes: { type: 'string', default: '1000,5000,10000' }, runs: { type: 'string', default: '3' }, concurrency: { type: 'string', default: '32' } },
});
const sizes = values.sizes.split(',').map(Number);
const runs = Number(values.runs);
const concurrency = Number(values.concurrency);
const PORT = 6000;

/** Teardown for a script: what tap's t.teardown does, run in reverse at the end. */
class Cleanup {
  private readonly fns: (() => unknown)[] = [];
  teardown(fn: () => unknown): void {
    this.fns.push(fn);
  }
  async run(): Promise<void> {
    for (const fn of this.fns.toReversed()) await Promise.resolve().then(fn).catch((err: unknown) => console.error('cleanup:', err));
  }
}

const rssOf = (pid: number | undefined) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
const median = (xs: number[]) => xs.toSorted((a, b) => a - b)[Math.floor((xs.length - 1) / 2)] ?? NaN;

async function peerCount(dev: string): Promise<number> {
  const { stdout } = await runner.run(['wg', 'show', dev, 'peers']);
  return stdout.split('\n').filter(Boolean).length;
}

async function waitPeers(dev: string, n: number, timeoutMs = 600_000): Promise<number> {
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; await sleep(50)) {
    // -1 while the link does not exist (yet).
    if ((await peerCount(dev).catch(() => -1)) === n) return performance.now();
  }
  throw new Error(`timed out waiting for ${n} peers on ${dev}`);
}

async function createAll(lab: Lab, keys: string[], prefix: string): Promise<number> {
  let next = 0;
  const path = resourcePath(RESOURCES.PodEndpoint, APP_NS);
  const worker = async () => {
    for (let i = next++; i < keys.length; i = next++) {
      await lab.kube.rest.create(path, {
        apiVersion: API_VERSION, kind: 'PodEndpoint', metadata: { name: `${prefix}-${i}` },
        spec: { staticGatewayConfiguration: 'bench', podIpAddress: `10.${100 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}/32`, podPublicKey: keys[i] },
      });
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return performance.now();
}

async function main(): Promise<void> {
  const cleanup = new Cleanup();
  try {
    const lab = await Lab.start(cleanup);
    const daemon = lab.startDaemon(['--node-name', NODE.name, '--log-level', 'info', '--resync-interval', '10m']);
    await lab.createGateway('bench', PORT, '10.0.0.65');
    const dev = `${lab.linkPrefix}${PORT}`;
    for (const deadline = Date.now() + 60_000; (await peerCount(dev).catch(() => -1)) !== 0; await sleep(100)) {
      if (Date.now() > deadline) throw new Error(`gateway not programmed:\n${daemon.output()}`);
    }
    const rssKb0 = rssOf(daemon.proc.pid);
    const keys = Array.from({ length: Math.max(...sizes) }, () => generatePrivateKey().publicKey());
    console.log(`| peers | runs | creation (API) median s | first create -> all installed median s | last create -> all installed median s |`);
    console.log(`| --- | --- | --- | --- | --- |`);
    let rssKb = 0;
    let statusBytes = 0;
    for (const n of sizes) {
      const total: number[] = [];
      const create: number[] = [];
      const tail: number[] = [];
      for (let r = 0; r < runs; r++) {
        const start = performance.now();
        const created = await createAll(lab, keys.slice(0, n), `p${n}r${r}`);
        const installed = await waitPeers(dev, n);
        create.push((created - start) / 1000);
        total.push((installed - start) / 1000);
        tail.push((installed - created) / 1000);
        if (n === Math.max(...sizes) && r === runs - 1) {
          await sleep(2000); // let the coalesced GatewayStatus write land
          rssKb = rssOf(daemon.proc.pid);
          const gs = await lab.kube.rest.get(resourcePath(RESOURCES.GatewayStatus, SYSTEM_NS, NODE.name));
          statusBytes = JSON.stringify(gs).length;
        }
        await lab.kube.rest.delete(resourcePath(RESOURCES.PodEndpoint, APP_NS));
        await waitPeers(dev, 0);
      }
      console.log(`| ${n} | ${runs} | ${median(create).toFixed(2)} | ${median(total).toFixed(2)} | ${median(tail).toFixed(2)} |`);
    }
    // Bulk: the peers already exist and the node starts serving the gateway
    // (as after a node joins the pool): link, rules and all peers at once.
    const n = Math.max(...sizes);
    await createAll(lab, keys.slice(0, n), 'bulk');
    await waitPeers(dev, n);
    const bulk: number[] = [];
    for (let r = 0; r < runs; r++) {
      await lab.setVmProfiles('bench', []);
      for (const deadline = Date.now() + 60_000; (await peerCount(dev).catch(() => -1)) !== -1; await sleep(50)) {
        if (Date.now() > deadline) throw new Error('gateway not removed');
      }
      const start = performance.now();
      await lab.setVmProfiles('bench', [{ nodeName: NODE.name, primaryIP: NODE.ip, secondaryIP: '10.0.0.65' }]);
      bulk.push(((await waitPeers(dev, n)) - start) / 1000);
    }
    console.log(`\nnode starts serving a gateway with ${n} existing peers -> all installed: median ${median(bulk).toFixed(2)} s (${runs} runs)`);
    console.log(`\ndaemon RSS at ${Math.max(...sizes)} peers: ${(rssKb / 1024).toFixed(1)} MiB (at 0 peers, after start: ${(rssKb0 / 1024).toFixed(1)} MiB)`);
    console.log(`GatewayStatus object at ${Math.max(...sizes)} peers: ${statusBytes} bytes (JSON, as returned by the API)`);
    // The datapath metrics are read at scrape time: what one scrape costs at this size (1.1 s apart: the daemon shares a reading within 1 s).
    const scrapes: number[] = [];
    let body = '';
    for (let r = 0; r < 5; r++) {
      await sleep(1100);
      const start = performance.now();
      body = await lab.httpBody('/metrics', 8080);
      scrapes.push(performance.now() - start);
    }
    const active = /^keg_gateway_peers\{[^}]*\} (\d+)$/m.exec(body)?.[1];
    console.log(`/metrics at ${n} peers (keg_gateway_peers ${active}): median ${median(scrapes).toFixed(0)} ms per scrape (curl included; 5 scrapes: ${scrapes.map((x) => x.toFixed(0)).join(', ')}), ${body.length} bytes`);
  } finally {
    await cleanup.run();
  }
}

await main();
