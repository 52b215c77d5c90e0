import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { join } from 'node:path';
import type { CommandRunner } from '../../../lib/exec/runner.ts';
import { KegError } from '../../../lib/errors.ts';

/** The emulator's TLS material: its own CA and a server certificate it signed. */
export interface TlsMaterial {
  caPem: string;
  /** The CA certificate on disk, for NODE_EXTRA_CA_CERTS and friends. */
  caPath: string;
  certPem: string;
  keyPem: string;
}

const FILES = { caCert: 'ca.pem', caKey: 'ca.key', cert: 'server.pem', key: 'server.key' } as const;

/**
 * Loads the CA and server certificate from `dir`, or creates them there.
 * Reusing them across restarts matters: a client that trusts the CA file keeps
 * working when the lab restarts the emulator.
 *
 * node:crypto can parse X.509 but not issue it, so signing goes through
 * `openssl` (argv arrays, no shell); keys come from node:crypto.
 */
export async function loadOrCreateTls(dir: string, runner: CommandRunner, hosts: readonly string[]): Promise<TlsMaterial> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const path = (f: string) => join(dir, f);
  if (!Object.values(FILES).every((f) => existsSync(path(f))) || !coversHosts(readFileSync(path(FILES.cert), 'utf8'), hosts)) {
    await createTls(dir, runner, hosts);
  }
  return {
    caPem: readFileSync(path(FILES.caCert), 'utf8'),
    caPath: path(FILES.caCert),
    certPem: readFileSync(path(FILES.cert), 'utf8'),
    keyPem: readFileSync(path(FILES.key), 'utf8'),
  };
}

function coversHosts(certPem: string, hosts: readonly string[]): boolean {
  const cert = new X509Certificate(certPem);
  return hosts.every((h) => (isIP(h) ? cert.checkIP(h) : cert.checkHost(h)) !== undefined);
}

function writeKey(file: string): void {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  writeFileSync(file, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
}

async function createTls(dir: string, runner: CommandRunner, hosts: readonly string[]): Promise<void> {
  const path = (f: string) => join(dir, f);
  writeKey(path(FILES.caKey));
  writeKey(path(FILES.key));
  const san = hosts.map((h) => (isIP(h) ? `IP:${h}` : `DNS:${h}`)).join(',');
  const ext = path('server.ext');
  writeFileSync(ext, `subjectAltName=${san}\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n`);
  const openssl = async (args: string[]) => {
    try {
      await runner.run(['openssl', ...args]);
    } catch (err) {
      throw new KegError('ARM_EMULATOR_TLS', 'cannot create the ARM emulator certificates with openssl', { cause: err });
    }
  };
  await openssl(['req', '-x509', '-new', '-key', path(FILES.caKey), '-out', path(FILES.caCert), '-days', '3650',
    '-subj', '/CN=kube-egress-gateway ARM emulator CA', '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  await openssl(['req', '-new', '-key', path(FILES.key), '-out', path('server.csr'), '-subj', '/CN=arm-emulator']);
  await openssl(['x509', '-req', '-in', path('server.csr'), '-CA', path(FILES.caCert), '-CAkey', path(FILES.caKey),
    '-CAcreateserial', '-out', path(FILES.cert), '-days', '3650', '-extfile', ext]);
}
