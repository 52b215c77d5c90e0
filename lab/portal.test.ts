import t from 'tap';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ExecRunner, inNetns } from '../lib/exec/runner.ts';
import { ManagedProcess } from '../testenv/kubeapi/process.ts';
import { tempNetns } from '../testenv/netns.ts';
import { parseEndpoint, startPortal } from './portal.ts';

t.test('endpoints', async (t) => {
  t.same(parseEndpoint('tcp:127.0.0.1:80'), { kind: 'tcp', host: '127.0.0.1', port: 80 });
  t.same(parseEndpoint('unix:/run/x.sock'), { kind: 'unix', path: '/run/x.sock' });
  t.throws(() => parseEndpoint('http://x'), { code: 'USAGE' });
});

t.test('a namespace reaches a host loopback service through two portals', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'keg-portal-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const echo = createServer((s) => s.pipe(s));
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
  t.teardown(() => echo.close());
  const sock = join(dir, 'svc.sock');
  const hostSide = await startPortal(parseEndpoint(`unix:${sock}`), parseEndpoint(`tcp:127.0.0.1:${(echo.address() as AddressInfo).port}`));
  t.teardown(() => hostSide.close());
  t.equal(statSync(sock).mode & 0o777, 0o600, 'the socket is owner-only');

  const ns = await tempNetns(t, 'portal');
  const inside = new ManagedProcess('portal', join(dir, 'portal.log'));
  inside.start(['nsenter', `--net=${ns.path}`, process.execPath, fileURLToPath(new URL('./portal-main.ts', import.meta.url)), '--listen', 'tcp:127.0.0.1:6443', '--connect', `unix:${sock}`]);
  t.teardown(() => inside.stop());
  const probe = "const s=require('net').connect(6443,'127.0.0.1',()=>s.write('ping'));s.on('data',d=>{process.stdout.write(d);s.end()});s.on('error',()=>process.exit(1))";
  let out = '';
  for (let i = 0; i < 50 && out !== 'ping'; i++) {
    out = await inNetns(new ExecRunner(), ns.path).run([process.execPath, '-e', probe]).then((r) => r.stdout, () => '');
    if (out !== 'ping') await new Promise((r) => setTimeout(r, 100));
  }
  t.equal(out, 'ping', 'bytes went ns 127.0.0.1 -> unix socket -> host 127.0.0.1 and back');
});
