import t from 'tap';
import { FakeRunner } from '../lib/exec/fake.ts';
import { silentLogger } from '../lib/log.ts';
import { ensureSystemPackages, missingPackages, onPath } from './system.ts';

t.test('finds commands on PATH', async (t) => {
  t.ok(onPath('sh'));
  t.notOk(onPath('no-such-command-keg'));
  t.notOk(onPath('sh', '/nonexistent'));
});

t.test('installs only what is missing, without recommends', async (t) => {
  const fake = new FakeRunner();
  await ensureSystemPackages(fake, silentLogger, (cmd) => cmd !== 'wg' && cmd !== 'wireguard-go');
  t.same(fake.lines(), ['apt-get update -qq', 'apt-get install -y -qq --no-install-recommends wireguard-go wireguard-tools']);
  t.equal(fake.calls.length, 2);
});

t.test('does nothing when everything is there', async (t) => {
  const fake = new FakeRunner();
  await ensureSystemPackages(fake, silentLogger, () => true);
  t.same(fake.calls, []);
  t.same(missingPackages(() => true), []);
});
