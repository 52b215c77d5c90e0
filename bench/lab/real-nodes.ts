// Cost of the lab's real nodes: bring-up time against the stand-in lab of the same size (the
// baseline, measured in the same run), memory (RSS) and CPU of each node's kubelet and containerd
// and of the control plane at idle, and the memory each running pod adds (shim, pause, container).
// With --product: then `helm install` of the product (image built if out of date), and the memory
// and CPU of each of its pods at idle, by part and node.
// Needs root and the binaries `npm run kube-binaries` prepares.
// Usage: npx node bench/lab/real-nodes.ts [--gateways 1] [--workers 1] [--pods 5] [--idle 30] [--runs 3] [--product]
import { readFileSync, readdirSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { createLogger } from '../../lib/log.ts';
import { CORE, resourcePath } from '../../lib/kube/paths.ts';
import { TEST_IMAGE } from '../../testenv/realnode/images.ts';
import { Lab } from '../../lab/lab.ts';
import { cgroupTreePids } from '../../lab/realnode.ts';
import { SYSTEM_NAMESPACE } from '../../lab/kube-objects.ts';
import { installProduct, waitProductReady } from '../../lab/product.ts';

const { values } = parseArgs({ options: {
  gateways: { type: 'string', default: '1' }, workers: { type: 'string', default: '1' },
  pods: { type: 'string', default: '5' }, idle: { type: 'string', default: '30' }, runs: { type: 'string', default: '3' },
  product: { type: 'boolean', default: false },
} });
const size = { gateways: Number(values.gateways), workers: Number(values.workers) };
const log = createLogger({ level: 'warn' });
const CLK_TCK = 100;
const MiB = (kib: number) => `${(kib / 1024).toFixed(0)} MiB`;
const median = (xs: number[]) => xs.toSorted((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0);
}

function cpuTicks(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return Number(fields[11]) + Number(fields[12]);
}

/** Every process whose command line mentions `text` (the node's socket or directory). */
function pidsMentioning(text: string): number[] {
  return readdirSync('/proc').filter((d) => /^\d+$/.test(d)).flatMap((d) => {
    try {
      return readFileSync(`/proc/${d}/cmdline`, 'utf8').includes(text) ? [Number(d)] : [];
    } catch {
      return [];
    }
  });
}

async function timedStart(realNodes: boolean): Promise<{ lab: Lab; seconds: number }> {
  const started = Date.now();
  const lab = await Lab.start({ log, ...size, realNodes, helm: realNodes && values.product });
  return { lab, seconds: (Date.now() - started) / 1000 };
}

async function waitRunning(lab: Lab, names: string[]): Promise<void> {
  const deadline = Date.now() + 180_000;
  for (const name of names) {
    while ((await lab.kube.rest.get<{ status: { phase?: string } }>(resourcePath(CORE.pods, 'default', name))).status.phase !== 'Running') {
      if (Date.now() > deadline) throw new Error(`pod ${name} not Running`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

const standIn: number[] = [];
const real: number[] = [];
for (let i = 0; i < Number(values.runs); i++) {
  const a = await timedStart(false);
  standIn.push(a.seconds);
  await a.lab.stop();
  const b = await timedStart(true);
  real.push(b.seconds);
  if (i < Number(values.runs) - 1) await b.lab.stop();
  else {
    console.log(`bring-up, ${size.gateways} gateway + ${size.workers} worker nodes, median of ${values.runs}: stand-in ${median(standIn).toFixed(1)} s, real nodes ${median(real).toFixed(1)} s (x${(median(real) / median(standIn)).toFixed(2)})`);
    await measure(b.lab);
  }
}

async function measure(lab: Lab): Promise<void> {
  try {
    const named = (name: string) => lab.procs.get(name)?.pid;
    const parts: [string, number][] = [];
    for (const m of lab.machines) for (const p of ['kubelet', 'containerd']) parts.push([`${p} ${m.computerName}`, named(`${p}-${m.computerName}`) ?? 0]);
    for (const p of ['kube-controller-manager', 'kube-scheduler']) parts.push([p, named(p) ?? 0]);
    const t0 = parts.map(([, pid]) => cpuTicks(pid));
    await new Promise((r) => setTimeout(r, Number(values.idle) * 1000));
    console.log(`idle ${values.idle} s:`);
    parts.forEach(([name, pid], i) => {
      const cpu = ((cpuTicks(pid) - (t0[i] ?? 0)) / CLK_TCK / Number(values.idle)) * 100;
      console.log(`  ${name.padEnd(30)} RSS ${MiB(rssKiB(pid)).padStart(8)}  CPU ${cpu.toFixed(1)}% of a core`);
    });
    const worker = lab.realNodes.find((n) => !n.m.gateway);
    if (!worker) return;
    const nodeKiB = () => [...new Set([...pidsMentioning(worker.socket), ...cgroupTreePids(`/sys/fs/cgroup/memory${worker.cgroupParent}`)])]
      .filter((pid) => pid !== named(`containerd-${worker.m.computerName}`)).reduce((sum, pid) => sum + rssKiB(pid), 0);
    const before = nodeKiB();
    const names = Array.from({ length: Number(values.pods) }, (_, i) => `idle-${i}`);
    for (const name of names) {
      await lab.kube.rest.create(resourcePath(CORE.pods, 'default'), {
        metadata: { name },
        spec: { nodeName: worker.m.computerName, terminationGracePeriodSeconds: 1, containers: [{ name: 'app', image: TEST_IMAGE, imagePullPolicy: 'Never', command: ['sleep', '3600'] }] },
      });
    }
    await waitRunning(lab, names);
    await new Promise((r) => setTimeout(r, 5_000));
    console.log(`per running pod (shim + pause + container, ${names.length} pods): ${MiB((nodeKiB() - before) / names.length)}`);
    if (values.product) await measureProduct(lab);
  } finally {
    await lab.stop();
  }
}

/** The pod a process belongs to (its memory cgroup path names `pod<uid>`), undefined outside pods. */
function podUidOf(pid: number): string | undefined {
  const line = readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').find((l) => /:memory:/.test(l)) ?? '';
  return /pod([0-9a-f-]{36})/.exec(line)?.[1];
}

/** helm install of the product, then RSS and CPU of each of its pods (containers and pause) over the idle window. */
async function measureProduct(lab: Lab): Promise<void> {
  const started = Date.now();
  await installProduct(lab);
  await waitProductReady(lab);
  console.log(`helm install to every part ready (image up to date): ${((Date.now() - started) / 1000).toFixed(1)} s`);
  await new Promise((r) => setTimeout(r, 10_000));
  const pods = await lab.kube.rest.get<{ items: { metadata: { uid: string; labels?: Record<string, string> }; spec: { nodeName?: string } }[] }>(resourcePath(CORE.pods, SYSTEM_NAMESPACE));
  const nameOf = new Map(pods.items.map((p) => [p.metadata.uid, `${p.metadata.labels?.['app.kubernetes.io/component']}@${p.spec.nodeName}`]));
  const byPod = () => {
    const out = new Map<string, number[]>();
    for (const node of lab.realNodes) {
      for (const pid of cgroupTreePids(`/sys/fs/cgroup/memory${node.cgroupParent}`)) {
        const name = nameOf.get(podUidOf(pid) ?? '');
        if (name) out.set(name, [...(out.get(name) ?? []), pid]);
      }
    }
    return out;
  };
  const t0 = new Map([...byPod()].map(([name, pids]) => [name, pids.reduce((sum, pid) => sum + cpuTicks(pid), 0)]));
  await new Promise((r) => setTimeout(r, Number(values.idle) * 1000));
  console.log(`the product's pods, idle ${values.idle} s:`);
  for (const [name, pids] of [...byPod()].toSorted(([a], [b]) => a.localeCompare(b))) {
    const cpu = ((pids.reduce((sum, pid) => sum + cpuTicks(pid), 0) - (t0.get(name) ?? 0)) / CLK_TCK / Number(values.idle)) * 100;
    console.log(`  ${name.padEnd(40)} RSS ${MiB(pids.reduce((sum, pid) => sum + rssKiB(pid), 0)).padStart(8)}  CPU ${cpu.toFixed(1)}% of a core`);
  }
}
