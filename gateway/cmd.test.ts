import t from 'tap';
import { main } from './cmd.ts';

/** Runs main with stdout and stderr captured. */
async function run(args: string[], env: Record<string, string | undefined> = {}): Promise<{ code: number; out: string }> {
  let out = '';
  const saved = { stdout: process.stdout.write, stderr: process.stderr.write, env: { ...process.env } };
  const capture = ((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  }) as typeof process.stdout.write;
  process.stdout.write = capture;
  process.stderr.write = capture;
  Object.assign(process.env, env);
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete process.env[k];
  try {
    return { code: await main(args), out };
  } finally {
    process.stdout.write = saved.stdout;
    process.stderr.write = saved.stderr;
    process.env = saved.env;
  }
}

t.test('usage', async (t) => {
  const help = await run(['--help']);
  t.equal(help.code, 0);
  t.match(help.out, /Usage: kube-egress-gateway gateway/);
  const bad = await run(['--link-prefix', 'x'.repeat(20)]);
  t.equal(bad.code, 2, 'usage errors exit 2');
  t.match(bad.out, /--link-prefix/);
});

t.test('a daemon that cannot start exits 1 and says why', async (t) => {
  const r = await run(['--node-name', 'n0', '--probe-bind-address', '127.0.0.1:0', '--metrics-bind-address', '127.0.0.1:0'], { KUBECONFIG: undefined, KUBERNETES_SERVICE_HOST: undefined });
  t.equal(r.code, 1);
  t.match(r.out, /"code":"KUBECONFIG_NOT_FOUND"/);
});
