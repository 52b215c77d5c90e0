import { existsSync } from 'node:fs';
import { inNetns } from '../../lib/exec/runner.ts';
import { Ip } from '../../lib/net/ip.ts';
import type { PluginContext } from './context.ts';
import { removeIngress } from './ingress.ts';
import type { PodRecord } from './records.ts';
import { removeRoutes } from './routes.ts';
import { deleteTunnel } from './tunnel.ts';

/**
 * Undoes everything ADD may have done for `record`, whatever stage it
 * reached: each step tolerates what is already gone, and a namespace that no
 * longer exists took its routes, rules and nft table with it.
 */
export async function teardown(ctx: PluginContext, record: PodRecord): Promise<void> {
  if (existsSync(record.netns)) {
    const podRunner = inNetns(ctx.runner, record.netns);
    const ip = new Ip(podRunner);
    await removeIngress(podRunner, ip);
    await deleteTunnel(ctx.links, record);
    await removeRoutes(ip, record);
  } else {
    await deleteTunnel(ctx.links, record);
  }
  await ctx.agent.del({ containerId: record.containerId, ...(record.pod && { pod: record.pod }) });
  ctx.records.remove(record.containerId);
}

/**
 * DEL: idempotent. No record means ADD never wired this container (a plain
 * pod) or a DEL already finished; both are success without the agent.
 */
export async function del(ctx: PluginContext): Promise<void> {
  const record = ctx.records.read(ctx.env.containerId as string);
  if (record === undefined) return;
  await teardown(ctx, record);
  ctx.log.info('pod unwired', { containerId: record.containerId });
}
