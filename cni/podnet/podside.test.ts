import { setTimeout as sleep } from 'node:timers/promises';
import t, { type Test } from 'tap';
import { ExecRunner, inNetns } from '../../lib/exec/runner.ts';
import { WarmRunner } from '../../lib/exec/warm.ts';
import { tempNetns } from '../../testenv/netns.ts';
import { NFT_TABLE } from './names.ts';
import { applyPodSide } from './podside.ts';

/** A pod whose primary interface is `dev`, default route via 10.77.0.1. */
async function pod(t: Test, dev: string) {
  const ns = await tempNetns(t, 'ps');
  const run = inNetns(new ExecRunner(), ns.path);
  await run.run(['ip', 'link', 'add', dev, 'type', 'veth', 'peer', 'name', `${dev}p`]);
  await run.run(['ip', 'addr', 'add', '10.77.0.2/24', 'dev', dev]);
  for (const l of [dev, `${dev}p`]) await run.run(['ip', 'link', 'set', l, 'up']);
  await run.run(['ip', 'route', 'add', 'default', 'via', '10.77.0.1', 'dev', dev]);
  return { ns, run };
}

t.test('the table is read, the routes go in now and later, nft marks the primary interface', async (t) => {
  const { ns, run } = await pod(t, 'eth0');
  const warm = new WarmRunner(new ExecRunner(), 1);
  t.teardown(() => warm.stop());
  await warm.run(['true']);
  for (let i = 0; i < 200 && warm.idle < 1; i++) await sleep(5);
  let seen: string[] = [];
  let laterAsked = false;
  await applyPodSide(inNetns(warm, ns.path), 'eth0', (main) => {
    seen = main.map((r) => `${r.dst} ${r.gateway ?? '-'} ${r.dev}`);
    return {
      ifname: 'eth0',
      now: [['route', 'replace', '10.9.0.0/16', 'via', '10.77.0.1', 'dev', 'eth0']],
      later: async () => {
        laterAsked = true;
        return [['rule', 'add', 'priority', '1234', 'fwmark', '0x1', 'table', '100']];
      },
    };
  });
  t.equal(warm.idle, 0, 'the script was handed to the shell started ahead (one line)');
  t.ok(seen.includes('0.0.0.0/0 10.77.0.1 eth0'), 'the plan saw the default route');
  t.ok(laterAsked);
  t.match((await run.run(['ip', '-4', 'route', 'show', '10.9.0.0/16'])).stdout, /via 10\.77\.0\.1 dev eth0/);
  t.match((await run.run(['ip', '-4', 'rule', 'show', 'priority', '1234'])).stdout, /fwmark 0x1 lookup 100/);
  t.match((await run.run(['nft', 'list', 'table', 'inet', NFT_TABLE])).stdout, /iifname "eth0" ct state new/);
  t.equal((await run.run(['cat', '/proc/sys/net/ipv4/conf/all/src_valid_mark'])).stdout.trim(), '1');
});

t.test('a primary interface other than CNI_IFNAME gets the nft table again, for it', async (t) => {
  const { ns, run } = await pod(t, 'net1');
  await applyPodSide(inNetns(new ExecRunner(), ns.path), 'eth0', () => ({ ifname: 'net1', now: [], later: async () => [] }));
  const table = (await run.run(['nft', 'list', 'table', 'inet', NFT_TABLE])).stdout;
  t.match(table, /iifname "net1" ct state new/);
  t.notMatch(table, /eth0/);
});

t.test('a failing plan stops the batch, and the pod side rejects with it once nft is done', async (t) => {
  const { ns, run } = await pod(t, 'eth0');
  const err = new Error('no default route of the primary');
  await t.rejects(applyPodSide(inNetns(new ExecRunner(), ns.path), 'eth0', () => {
    throw err;
  }), err);
  t.match((await run.run(['nft', 'list', 'table', 'inet', NFT_TABLE])).stdout, /iifname "eth0"/, 'nft finished before the failure was reported: an undo after it sees the table');
});

t.test('a failing later step: what came before went in, and the pod side rejects with it', async (t) => {
  const { ns, run } = await pod(t, 'eth0');
  const err = new Error('the move failed');
  await t.rejects(applyPodSide(inNetns(new ExecRunner(), ns.path), 'eth0', () => ({
    ifname: 'eth0',
    now: [['route', 'replace', '10.9.0.0/16', 'via', '10.77.0.1', 'dev', 'eth0']],
    later: () => Promise.reject(err),
  })), err);
  t.match((await run.run(['ip', '-4', 'route', 'show', '10.9.0.0/16'])).stdout, /via 10\.77\.0\.1/, 'what came before went in');
});

t.test('a failing route command fails the pod side with ip\'s error', async (t) => {
  const { ns } = await pod(t, 'eth0');
  await t.rejects(applyPodSide(inNetns(new ExecRunner(), ns.path), 'eth0', () => ({
    ifname: 'eth0', now: [['route', 'replace', '10.9.0.0/16', 'via', '10.77.0.1', 'dev', 'nosuchdev']], later: async () => [],
  })), { code: 'COMMAND_FAILED', stderr: /Cannot find device "nosuchdev"/ });
});
