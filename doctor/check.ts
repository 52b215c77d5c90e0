import { BlockList } from 'node:net';

export type Status = 'ok' | 'warn' | 'fail' | 'info';

/** One line of the report: what was checked and what was seen; a warn or fail carries the fix. */
export interface Check {
  /** Stable name of the check (JSON consumers key on it). */
  name: string;
  status: Status;
  detail: string;
  /** Stable code of the finding, for a warn or fail. */
  code?: string;
  fix?: string;
}

export const ok = (name: string, detail: string): Check => ({ name, status: 'ok', detail });
export const info = (name: string, detail: string): Check => ({ name, status: 'info', detail });
export const fail = (name: string, code: string, detail: string, fix: string): Check => ({ name, status: 'fail', code, detail, fix });
export const warn = (name: string, code: string, detail: string, fix: string): Check => ({ name, status: 'warn', code, detail, fix });

export const RESTART = 'delete the pod so that its controller recreates it (a pod is wired once, when its sandbox is created)';

/** Whether `ip` is inside `cidr` (IPv4). */
export function inPrefix(ip: string, cidr: string): boolean {
  const [base = '', len = '32'] = cidr.split('/');
  const list = new BlockList();
  try {
    list.addSubnet(base, Number(len), 'ipv4');
    return list.check(ip, 'ipv4');
  } catch {
    return false;
  }
}
