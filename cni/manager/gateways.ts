import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { KINDS } from '../../lib/api/constants.ts';
import { RESOURCES } from '../../lib/api/resources.ts';
import { GatewayVMConfigurationSchema, parseObject, type GatewayVMConfiguration } from '../../lib/api/v1alpha1.ts';
import { Informer } from '../../lib/kube/informer.ts';
import type { KubeRest } from '../../lib/kube/rest.ts';
import type { Logger } from '../../lib/log.ts';

/** `<namespace>/<SGC name>` → primary IPs of its gateway nodes. */
const KnownSchema = z.record(z.string(), z.array(z.ipv4()));
/** Beside the pod records, out of their way (they are the directory's *.json). */
const FILE = 'gateways/known.json';

/**
 * Where each SGC's gateway nodes are: the primary IPs in its
 * GatewayVMConfiguration's status (same namespace and name as the SGC), from
 * one watch of all GatewayVMConfigurations. The last known state is kept on
 * disk, so an agent restarted while the API is down still knows where to
 * fail over to; the first successful list replaces it.
 */
export class GatewayDirectory {
  private readonly informer: Informer<GatewayVMConfiguration>;
  private readonly file: string;
  private readonly log: Logger;
  private known: Map<string, string[]>;

  constructor(opts: { rest: KubeRest; log: Logger; stateDir: string }) {
    this.log = opts.log;
    this.file = join(opts.stateDir, FILE);
    this.known = new Map(Object.entries(this.load()));
    this.informer = new Informer({
      rest: opts.rest, log: opts.log, type: RESOURCES[KINDS.GatewayVMConfiguration],
      parse: (o) => parseObject(GatewayVMConfigurationSchema, o),
      // Nothing is derived from it that a periodic re-delivery would correct.
      resyncMs: 0,
    });
    const changed = () => this.refresh();
    this.informer.on({ add: changed, update: changed, delete: changed });
  }

  /** Starts the watch; does not wait for the API (the last known state serves meanwhile). */
  start(): void {
    void this.informer.start().then(() => this.refresh());
  }

  stop(): Promise<void> {
    return this.informer.stop();
  }

  /** The SGC's gateway node IPs, as last seen. */
  ips(namespace: string, sgc: string): readonly string[] {
    return this.known.get(`${namespace}/${sgc}`) ?? [];
  }

  private refresh(): void {
    const next = new Map<string, string[]>();
    for (const vmc of this.informer.list()) {
      const ips = (vmc.status?.gatewayVMProfiles ?? []).map((p) => p.primaryIP).filter((ip): ip is string => z.ipv4().safeParse(ip).success);
      next.set(`${vmc.metadata.namespace}/${vmc.metadata.name}`, ips.sort());
    }
    const text = JSON.stringify(Object.fromEntries(next));
    if (text === JSON.stringify(Object.fromEntries(this.known))) return;
    this.known = next;
    this.save(text);
  }

  private load(): Record<string, string[]> {
    try {
      return KnownSchema.parse(JSON.parse(readFileSync(this.file, 'utf8')));
    } catch {
      return {};
    }
  }

  private save(text: string): void {
    try {
      mkdirSync(join(this.file, '..'), { recursive: true, mode: 0o700 });
      writeFileSync(`${this.file}.tmp`, text, { mode: 0o600 });
      renameSync(`${this.file}.tmp`, this.file);
    } catch (err) {
      this.log.warn('cannot keep the gateway list on disk; an agent restart during an API outage would not know it', { err });
    }
  }
}
