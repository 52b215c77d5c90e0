import t from 'tap';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadState, saveState, Store } from './store.ts';

t.test('state round-trips through an owner-only file written atomically', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'keg-arm-store-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  t.equal(loadState(dir), undefined, 'nothing saved yet');
  const s = new Store();
  s.resourceGroups.set('rg', 'RG');
  Store.put(s.subnets, { id: '/x/Subnets/A', name: 'A', type: 't', properties: { addressPrefix: '10.0.0.0/24', provisioningState: 'Succeeded' } });
  s.operations.set('op', { id: 'op', provider: 'p', resourceId: '/x', method: 'PUT', polls: 1, started: 1, status: 'InProgress' });
  s.nextInstance.set('/vmss', 3);
  saveState(dir, s);
  t.same(readdirSync(dir), ['state.json'], 'no temporary file left');
  t.equal(statSync(join(dir, 'state.json')).mode & 0o777, 0o600);
  const back = loadState(dir)!;
  t.same(back.toJSON(), s.toJSON());
  t.ok(back.find('/X/SUBNETS/a'), 'ids compare case-insensitively');
  back.remove('/x/subnets/a');
  t.equal(back.find('/x/subnets/a'), undefined);
});

t.test('a damaged state file is a clear error', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'keg-arm-store-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'state.json'), '{');
  t.throws(() => loadState(dir), { code: 'ARM_EMULATOR_STATE', message: /cannot read/ });
  writeFileSync(join(dir, 'state.json'), '{"version":2}');
  t.throws(() => loadState(dir), { code: 'ARM_EMULATOR_STATE', message: /invalid state file/ });
});
