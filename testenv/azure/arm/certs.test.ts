import t from 'tap';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ExecRunner } from '../../../lib/exec/runner.ts';
import { FakeRunner, failure } from '../../../lib/exec/fake.ts';
import { loadOrCreateTls } from './certs.ts';

t.test('a CA and a server certificate it signed, reused when they still fit', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'keg-arm-tls-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const tls = await loadOrCreateTls(dir, new ExecRunner(), ['127.0.0.1', 'localhost']);
  const ca = new X509Certificate(tls.caPem);
  const cert = new X509Certificate(tls.certPem);
  t.ok(ca.ca, 'the CA is a CA');
  t.ok(cert.verify(ca.publicKey), 'signed by the CA');
  t.equal(cert.checkIP('127.0.0.1'), '127.0.0.1');
  t.equal(cert.checkHost('localhost'), 'localhost');
  t.equal(statSync(join(dir, 'ca.key')).mode & 0o777, 0o600, 'keys are owner-only');

  const again = await loadOrCreateTls(dir, new FakeRunner(() => new Error('must not run')), ['127.0.0.1']);
  t.equal(again.caPem, tls.caPem, 'reused');
  const wider = await loadOrCreateTls(dir, new ExecRunner(), ['127.0.0.2']);
  t.not(wider.caPem, tls.caPem, 'recreated for a host the certificate does not cover');
});

t.test('openssl failures are reported', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'keg-arm-tls-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const runner = new FakeRunner((argv) => failure(argv, 'boom'));
  await t.rejects(loadOrCreateTls(dir, runner, ['127.0.0.1']), { code: 'ARM_EMULATOR_TLS' });
});
