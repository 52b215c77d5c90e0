// The tunnel host (kube-egress-gateway wireguard-host) as its own process in
// a namespace the test owns: wireguard-go started through it is its child,
// not the asker's, and ends only with its link or with the host. Needs root.
import t from 'tap';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ExecRunner, inNetns } from '../exec/runner.ts';
import { tempNetns } from '../../testenv/netns.ts';
import { until } from '../../testenv/wait.ts';
import { cleanupLink, uniqueLinkName } from '../../testenv/wireguard.ts';
import { WgLinks } from './link.ts';

const CLI = fileURLToPath(new URL('../../cmd/kube-egress-gateway.ts', import.meta.url));

/** The pids of wireguard-go processes serving `name`, with their parent. */
function wireguardGo(name: string): { pid: number; ppid: number }[] {
  return readdirSync('/proc').filter((d) => /^\d+$/.test(d)).flatMap((pid) => {
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (!argv[0]?.endsWith('wireguard-go') || argv.at(-2) !== name) return [];
      const ppid = Number(/^PPid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
      return [{ pid: Number(pid), ppid }];
    } catch {
      return [];
    }
  });
}

t.test('wireguard-go started through the host is the host\'s child, refused twice, ended by deleting its link or by the host\'s SIGTERM', async (t) => {
  const ns = await tempNetns(t, 'wghost');
  const dir = mkdtempSync(join(tmpdir(), 'keg-wghost-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const socket = join(dir, 'host.sock');
  const host = spawn('nsenter', [`--net=${ns.path}`, process.execPath, CLI, 'wireguard-host', '--socket', socket, '--log-level', 'warn'], { stdio: ['ignore', 'ignore', 'inherit'] });
  t.teardown(() => { if (host.exitCode === null) host.kill('SIGKILL'); });
  const links = new WgLinks(inNetns(new ExecRunner(), ns.path), { mode: 'userspace', host: socket });
  const [a, b, c] = [uniqueLinkName('kwgha'), uniqueLinkName('kwghb'), uniqueLinkName('kwghc')];
  for (const n of [a, b, c]) cleanupLink(t, n);
  await until('the host to listen', () => existsSync(socket), 10_000);

  const link = await links.create(a);
  t.same((await links.list()).map((l) => l.wgName), [a], 'the link is in the namespace the host runs in');
  const [proc, ...more] = wireguardGo(a);
  t.equal(more.length, 0, 'one wireguard-go for it');
  // nsenter execs the host, so the host's pid is the spawned one.
  t.equal(proc?.ppid, host.pid, 'its parent is the host, not this process');
  await t.rejects(links.create(a), { code: 'WG_LINK_EXISTS' }, 'a second device of that name is refused');

  await links.delete(link);
  await until('wireguard-go to exit with its link', () => wireguardGo(a).length === 0, 5_000);
  t.notOk(existsSync(`/var/run/wireguard/${a}.sock`), 'its control socket is gone');

  // An asker that goes away mid-request (its process exits: its side closes, as in a daemon's rollout):
  // the host stays up, and the tunnel it started runs.
  const gone = createConnection(socket);
  gone.on('error', () => {});
  await once(gone, 'connect');
  gone.end(`${JSON.stringify({ name: c })}\n`);
  await until('the abandoned tunnel to start', () => wireguardGo(c).length === 1, 10_000);
  await new Promise((r) => setTimeout(r, 200));
  gone.destroy();
  // One that goes away before its request is complete.
  const cut = createConnection(socket);
  cut.on('error', () => {}).resume();
  await once(cut, 'connect');
  cut.end('{"name":');
  await once(cut, 'close');
  await links.create(b);
  t.equal(host.exitCode, null, 'an asker that went away does not stop the host');
  host.kill('SIGTERM');
  const [code] = await once(host, 'exit');
  t.equal(code, 0, 'the host exits 0 on SIGTERM');
  t.same([...wireguardGo(b), ...wireguardGo(c)], [], 'and ends its tunnels');
  t.same(await links.list(), [], 'their links with them');
  t.notOk(existsSync(socket), 'its socket is removed');
  await t.rejects(links.create(a), { code: 'WG_HOST_UNAVAILABLE' }, 'without a host, no tunnel starts');
});

