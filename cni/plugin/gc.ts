import { describeError } from '../../lib/errors.ts';
import type { PluginContext } from './context.ts';
import { teardown } from './del.ts';

/**
 * GC: removes what ADD left for attachments the runtime no longer knows
 * (cni.dev/valid-attachments), of this network only. Each leftover is torn
 * down like a DEL; one failure does not stop the others, and is reported.
 */
export async function gc(ctx: PluginContext): Promise<void> {
  const valid = new Set((ctx.conf['cni.dev/valid-attachments'] ?? []).map((a) => `${a.containerID}\0${a.ifname}`));
  const failures: string[] = [];
  for (const record of ctx.records.list()) {
    if (record.network !== ctx.conf.name || valid.has(`${record.containerId}\0${record.ifname}`)) continue;
    try {
      await teardown(ctx, record);
      ctx.log.info('garbage-collected a stale attachment', { containerId: record.containerId });
    } catch (err) {
      failures.push(`${record.containerId}: ${describeError(err)}`);
    }
  }
  if (failures.length > 0) throw new Error(`GC left ${failures.length} attachment(s): ${failures.join('; ')}`);
}
