// TCP throughput through the whole egress path against a bare WireGuard
// tunnel and plain routing, in one run on one lab (root; network namespaces,
// wireguard-go where the kernel has no WireGuard):
//
//   npx node bench/gateway/throughput.ts [--seconds 5] [--rounds 3]
//
// Paths, each measured once per round, interleaved so that load from other
// processes on the machine falls on all of them alike:
// - gateway: an annotated pod -> its wg0 -> the ILB (router namespace) ->
//   the gateway node -> the gateway's WireGuard link -> SNAT -> out through
//   the router to a sink in the "internet" namespace. What a user gets.
// - bare: a WireGuard tunnel of the same kind (same implementation) between
//   the same two namespaces the pod's tunnel joins, the worker node and the
//   gateway node, straight over the VNet, to a sink in the gateway node.
// - plain: an unannotated pod on the same node to the same internet sink:
//   veth, bridge and routing with the lab's default-outbound NAT, no tunnel.
// - gateway-nometrics: the gateway path with the datapath metrics' share of
//   the packet path taken out (the gateway table's traffic counters) and no
//   scrapes; during the gateway path, /metrics of the daemon is scraped every
//   second (30 times the chart's ServiceMonitor interval). Their ratio is the
//   metrics' cost (docs/observability.md). After the rounds, the daemon's CPU
//   per scrape is measured with no traffic.
// One TCP stream each (bench/gateway/tcp.ts); the median of the rounds.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { inNetns } from '../../lib/exec/runner.ts';
import { createLogger } from '../../lib/log.ts';
import { PrivateKey } from '../../lib/wireguard/keys.ts';
import { WgLinks } from '../../lib/wireguard/link.ts';
import { Wg } from '../../lib/wireguard/wg.ts';
import { Lab, type LabMachine } from '../../lab/lab.ts';
import { createPod } from '../../lab/kubelet.ts';
import { gatewayNetnsName, startAgent, startGateway, startOperator } from '../../lab/parts.ts';
import { Nft } from '../../lib/net/nft.ts';
import { gatewayTable } from '../../gateway/rules.ts';
import { applySgc, inPrefix, waitEgress, waitSgcReady } from '../../lab/scenario.ts';
import type { Netns } from '../../lab/network.ts';
import { ECHO_IP } from '../../lab/plan.ts';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '5' }, rounds: { type: 'string', default: '3' } } });
const SECONDS = Number(values.seconds);
const ROUNDS = Number(values.rounds);
const PORT = 5201;
const SCRAPES = 30;
/** USER_HZ: 100 on every Linux architecture Node runs on. */
const CLOCK_TICKS = 100;
const TCP = join(import.meta.dirname, 'tcp.ts');
/** The bare tunnel's inner addresses: inside the lab's namespaces only. */
const BARE = { worker: '10.251.0.1', gateway: '10.251.0.2', port: 51900 };

const count = (log: string, pattern: RegExp) => log.split('\n').filter((l) => pattern.test(l)).length;
const median = (xs: number[]) => xs.toSorted((a, b) => a - b)[Math.floor((xs.length - 1) / 2)] ?? NaN;

/** Mbit/s of one stream from `from` to host:PORT. */
async function measure(lab: Lab, from: string, host: string): Promise<number> {
  const { stdout } = await inNetns(lab.runner, from).run([process.execPath, TCP, 'source', '--host', host, '--port', String(PORT), '--seconds', String(SECONDS)], { timeoutMs: (SECONDS + 60) * 1000 });
  const r = JSON.parse(stdout) as { bytes: number; seconds: number };
  return (r.bytes * 8) / r.seconds / 1e6;
}

/** A WireGuard tunnel worker <-> gateway node, of the kind the product uses on this host; `cleanup` removes it. */
async function bareTunnel(lab: Lab, worker: LabMachine, gateway: LabMachine, cleanup: (() => Promise<void>)[]): Promise<string> {
  const links = new WgLinks(lab.runner);
  const ends = [
    { m: worker, name: `kbw-${lab.id}`.slice(0, 15), key: PrivateKey.generate(), ip: BARE.worker },
    { m: gateway, name: `kbg-${lab.id}`.slice(0, 15), key: PrivateKey.generate(), ip: BARE.gateway },
  ] as const;
  const [w, g] = ends;
  for (const end of ends) {
    const peer = end === w ? g : w;
    const link = await links.create(end.name, { netnsPath: end.m.path });
    cleanup.push(() => links.delete(link));
    await new Wg(inNetns(lab.runner, end.m.path)).configureDevice(link.wgName, {
      privateKey: end.key, listenPort: BARE.port,
      peers: [{ publicKey: peer.key.publicKey(), endpoint: `${peer.m.ip}:${BARE.port}`, allowedIps: [`${peer.ip}/32`] }],
    });
    const ip = inNetns(lab.runner, end.m.path);
    await ip.run(['ip', 'addr', 'add', `${end.ip}/32`, 'peer', `${peer.ip}/32`, 'dev', link.ifname]);
    await ip.run(['ip', 'link', 'set', link.ifname, 'up']);
  }
  return links.mode ?? 'unknown';
}

/**
 * Under load a late probe answer makes the agent reset the pod's session
 * (fast recovery) or the router take the gateway out of rotation; either
 * stalls the gateway stream. How often each has happened so far.
 */
function disturbances(lab: Lab, worker: LabMachine): [number, number] {
  return [
    count(lab.procs.logTail(`agent-${worker.computerName}`, Number.MAX_SAFE_INTEGER), /resetting/),
    count(lab.procs.logTail('router', Number.MAX_SAFE_INTEGER), /router state changed/),
  ];
}

/**
 * Runs `fn` with the gateway table's traffic counters taken out, then puts
 * the table back as it was. The daemon re-renders the table on its resync, so
 * the counters' absence is checked after `fn` too: undefined when they came
 * back meanwhile (the round is measured again).
 */
async function withoutCounters<T>(lab: Lab, gateway: LabMachine, port: number, fn: () => Promise<T>): Promise<T | undefined> {
  const nft = new Nft(inNetns(lab.runner, `/var/run/netns/${gatewayNetnsName(lab, gateway)}`));
  const table = gatewayTable(port);
  const { stdout: saved } = await nft.runner.run(['nft', 'list', 'table', 'ip', table]);
  const stripped = saved.replace(/ counter name "?gw_\w+"?/g, '').replace(/\tcounter gw_\w+ \{[^}]*\}\n+/g, '');
  const counted = async () => /counter name/.test((await nft.runner.run(['nft', 'list', 'table', 'ip', table])).stdout);
  await nft.apply(`delete table ip ${table}\n${stripped}`);
  try {
    if (await counted()) return undefined;
    const result = await fn();
    return (await counted()) ? undefined : result;
  } finally {
    if (!(await counted())) await nft.apply(`delete table ip ${table}\n${saved}`);
  }
}

/** Scrapes the daemon's /metrics every second while `fn` runs. */
async function whileScraping<T>(lab: Lab, gateway: LabMachine, fn: () => Promise<T>): Promise<T> {
  const timer = setInterval(() => void lab.runner.run(['nsenter', `--net=${gateway.path}`, 'curl', '-sf', '-m', '2', '-o', '/dev/null', 'http://127.0.0.1:8080/metrics']).catch(() => undefined), 1000);
  try {
    return await fn();
  } finally {
    clearInterval(timer);
  }
}

/** CPU seconds the process and its reaped children (`wg`, `nft`, `conntrack`) have used (proc(5): utime, stime, cutime, cstime). */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
  return fields.slice(11, 15).reduce((sum, f) => sum + Number(f), 0) / CLOCK_TICKS;
}

/**
 * The daemon's CPU per scrape of /metrics, with no traffic: the CPU of a
 * window with one scrape a second, less that of an equal window without
 * (the daemon's own resyncs). Wall-clock throughput swings with the load of
 * the machine; CPU time does not, so this bounds the scrapes' share robustly.
 */
async function scrapeCpu(lab: Lab, gateway: LabMachine, scrapes: number): Promise<{ perScrapeMs: number; idleMs: number }> {
  const pid = lab.procs.get(`gateway-${gateway.computerName}`)?.pid;
  if (pid === undefined) throw new Error('the gateway daemon is not running');
  const windowCpu = async (fn: () => Promise<unknown>) => {
    const before = cpuSeconds(pid);
    await fn();
    return cpuSeconds(pid) - before;
  };
  const idle = await windowCpu(() => new Promise((r) => setTimeout(r, scrapes * 1000)));
  const scraping = await windowCpu(() => whileScraping(lab, gateway, () => new Promise((r) => setTimeout(r, scrapes * 1000 + 500))));
  return { perScrapeMs: ((scraping - idle) / scrapes) * 1000, idleMs: idle * 1000 };
}

function startSink(lab: Lab, name: string, ns: Netns): void {
  lab.procs.start(name, ['nsenter', `--net=${ns.path}`, '--', process.execPath, TCP, 'sink', '--port', String(PORT)]);
}

async function main(): Promise<void> {
  const lab = await Lab.start({ log: createLogger({ level: 'warn' }), gateways: 1, workers: 1, probeIntervalMs: 2_000 });
  const cleanup: (() => Promise<void>)[] = [];
  try {
    const worker = lab.workers[0] as LabMachine;
    const gateway = lab.gateways[0] as LabMachine;
    await startOperator(lab);
    startGateway(lab, gateway);
    await startAgent(lab, worker);
    await applySgc(lab, 'default', 'bench', { gatewayNodepoolName: 'gwpool' });
    const sgc = await waitSgcReady(lab, 'default', 'bench');
    const viaGateway = await createPod(lab, worker, { namespace: 'default', name: 'tput-gw', sgc: 'bench' });
    const plain = await createPod(lab, worker, { namespace: 'default', name: 'tput-plain' });
    const source = await waitEgress(lab, viaGateway);
    if (!inPrefix(source, sgc.status?.egressIpPrefix ?? '')) throw new Error(`the annotated pod egresses from ${source}, not from the prefix`);
    const kind = await bareTunnel(lab, worker, gateway, cleanup);
    startSink(lab, 'sink-internet', lab.net.internet);
    startSink(lab, 'sink-gateway-node', gateway);
    await new Promise((r) => setTimeout(r, 1_000));

    const before = disturbances(lab, worker);
    const port = sgc.status?.gatewayServerProfile?.port as number;
    const paths = {
      gateway: () => whileScraping(lab, gateway, () => measure(lab, viaGateway.netns.path, ECHO_IP)),
      'gateway-nometrics': () => withoutCounters(lab, gateway, port, () => measure(lab, viaGateway.netns.path, ECHO_IP)),
      bare: () => measure(lab, worker.path, BARE.gateway),
      plain: () => measure(lab, plain.netns.path, ECHO_IP),
    };
    const results: Record<keyof typeof paths, number[]> = { gateway: [], 'gateway-nometrics': [], bare: [], plain: [] };
    for (let r = 0; r < ROUNDS; r++) {
      for (const [name, run] of Object.entries(paths) as [keyof typeof paths, () => Promise<number | undefined>][]) {
        let mbps = await run();
        // The daemon's resync put the counters back during the round: once more.
        mbps ??= await run();
        if (mbps === undefined) throw new Error(`${name}: the gateway table changed during two rounds in a row`);
        results[name].push(mbps);
        console.error(`round ${r + 1}: ${name} ${mbps.toFixed(0)} Mbit/s`);
      }
    }
    const m = { gateway: median(results.gateway), 'gateway-nometrics': median(results['gateway-nometrics']), bare: median(results.bare), plain: median(results.plain) };
    console.log(`WireGuard kind: ${kind}; ${ROUNDS} rounds of ${SECONDS} s, one TCP stream each; median Mbit/s (all rounds)`);
    for (const name of ['plain', 'bare', 'gateway', 'gateway-nometrics'] as const) {
      console.log(`| ${name} | ${m[name].toFixed(0)} | ${results[name].map((x) => x.toFixed(0)).join(', ')} |`);
    }
    console.log(`gateway / bare tunnel: ${(m.gateway / m.bare).toFixed(2)}; gateway / plain: ${(m.gateway / m.plain).toFixed(2)}; bare tunnel / plain: ${(m.bare / m.plain).toFixed(2)}`);
    // Rounds are interleaved, so a round's two tunnels saw about the same load.
    const paired = results.gateway.map((g, i) => g / (results.bare[i] as number));
    console.log(`gateway / bare tunnel per round: ${paired.map((x) => x.toFixed(2)).join(', ')} (median ${median(paired).toFixed(2)})`);
    const metrics = results.gateway.map((g, i) => g / (results['gateway-nometrics'][i] as number));
    console.log(`gateway with metrics / without, per round: ${metrics.map((x) => x.toFixed(2)).join(', ')} (median ${median(metrics).toFixed(2)}; of medians ${(m.gateway / m['gateway-nometrics']).toFixed(2)})`);
    const cpu = await scrapeCpu(lab, gateway, SCRAPES);
    console.log(`daemon CPU per scrape: ${cpu.perScrapeMs.toFixed(1)} ms (${SCRAPES} scrapes, against ${cpu.idleMs.toFixed(0)} ms in an equal window without); at the ServiceMonitor's 30 s interval ${(cpu.perScrapeMs / 300).toFixed(3)}% of one core`);
    const [resets, changes] = disturbances(lab, worker);
    console.log(`while measuring: ${resets - before[0]} session resets by the agent, ${changes - before[1]} ILB backend state changes`);
  } finally {
    for (const fn of cleanup) await fn().catch((err: unknown) => console.error('cleanup:', err));
    await lab.stop();
  }
}

await main();
