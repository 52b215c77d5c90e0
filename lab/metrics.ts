import type { Lab } from './lab.ts';

/** One /metrics answer of a running part. */
export interface Scrape {
  /** `operator`, `gateway-<computer name>` or `agent-<computer name>`. */
  part: string;
  /** The node it runs on (none for the operator). */
  node?: string;
  text: string;
}

/** The port the operator's ops server listens on, from its start log (the lab binds port 0). */
function operatorPort(lab: Lab): number | undefined {
  for (const line of lab.procs.logTail('operator', Number.MAX_SAFE_INTEGER).split('\n').toReversed()) {
    const port = line.includes('"msg":"serving /metrics') ? /"port":(\d+)/.exec(line)?.[1] : undefined;
    if (port !== undefined) return Number(port);
  }
  return undefined;
}

/** GET on loopback inside a node's namespace, with curl: lighter than a Node client when scraped often. */
async function fetchIn(lab: Lab, netnsPath: string, url: string): Promise<string> {
  return (await lab.runner.run(['nsenter', `--net=${netnsPath}`, 'curl', '-sf', '-m', '3', url])).stdout;
}

/** /metrics of the operator, every gateway daemon and every node agent, as Prometheus would scrape them. */
export async function scrapeAll(lab: Lab): Promise<Scrape[]> {
  const port = operatorPort(lab);
  const operator = port === undefined ? [] : [(async () => ({ part: 'operator', text: await (await fetch(`http://127.0.0.1:${port}/metrics`)).text() }))()];
  const nodes = [...lab.gateways.map((m) => ({ m, part: `gateway-${m.computerName}` })), ...lab.workers.map((m) => ({ m, part: `agent-${m.computerName}` }))]
    .map(async ({ m, part }) => ({ part, node: m.computerName, text: await fetchIn(lab, m.path, 'http://127.0.0.1:8080/metrics') }));
  return Promise.all([...operator, ...nodes]);
}

/** The sum of every sample of `name` whose labels include `labels` (each `k="v"`), over the scrapes. */
export function sumOf(scrapes: Scrape[], name: string, labels: string[] = []): number {
  let total = 0;
  for (const { text } of scrapes) {
    for (const m of text.matchAll(new RegExp(`^${name}\\{([^}]*)\\} (\\S+)$`, 'gm'))) {
      if (labels.every((l) => (m[1] ?? '').split(',').includes(l))) total += Number(m[2]);
    }
  }
  return total;
}
