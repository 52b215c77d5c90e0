import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Lab } from './lab.ts';

/** What a lab leaves on the host if it does not clean up: processes (nodes, control plane, API), cgroups, namespaces. */
export function leftovers(lab: Lab): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (cmdline.includes(lab.dir) || cmdline.includes(lab.kube.dir)) found.push(`process ${pid}`);
    } catch {
      // Gone meanwhile.
    }
  }
  for (const h of readdirSync('/sys/fs/cgroup')) {
    for (const node of lab.realNodes) if (existsSync(join('/sys/fs/cgroup', h, node.cgroupParent))) found.push(`cgroup ${h}${node.cgroupParent}`);
  }
  found.push(...readdirSync('/var/run/netns').filter((n) => n.includes(`-${lab.id}-`)).map((n) => `netns ${n}`));
  return found;
}
