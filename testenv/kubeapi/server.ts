import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { get as httpGet } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { KegError } from '../../lib/errors.ts';
import { applyCrds, loadCrds } from '../../lib/kube/crds.ts';
import { KubeRest } from '../../lib/kube/rest.ts';
import type { Binaries } from './binaries.ts';
import { ManagedProcess } from './process.ts';
import { freePorts } from './ports.ts';

export interface TestKubeOptions {
  binaries: Binaries;
  /** A directory of CRD manifests to apply once the API is up; usually the chart's crds/. */
  crdDir?: string;
  /**
   * Enable the ServiceAccount admission plugin, which gives pods projected
   * tokens: only with a kube-controller-manager running (it creates the
   * `default` ServiceAccounts the plugin requires).
   */
  serviceAccountAdmission?: boolean;
  /** How long to wait for etcd and the apiserver to become ready. */
  startTimeoutMs?: number;
}

const ADMIN_USER = 'keg-admin';

/**
 * A real etcd + kube-apiserver on loopback, envtest style. Everything lives in
 * one temporary directory that stop() removes. The apiserver can be stopped
 * and started again on the same port and data, to test clients that must
 * survive an API outage.
 */
export class TestKube {
  readonly dir: string;
  readonly kubeConfig: KubeConfig;
  readonly kubeconfigPath: string;
  readonly rest: KubeRest;
  readonly server: string;
  private readonly etcd: ManagedProcess;
  private readonly apiserver: ManagedProcess;
  private readonly apiserverArgv: string[];
  private readonly adminToken: string;
  private readonly startTimeoutMs: number;

  private constructor(dir: string, apiPort: number, etcdArgv: string[], apiserverArgv: string[], token: string, timeoutMs: number) {
    this.dir = dir;
    this.server = `https://127.0.0.1:${apiPort}`;
    this.adminToken = token;
    this.startTimeoutMs = timeoutMs;
    this.etcd = new ManagedProcess('etcd', join(dir, 'etcd.log'));
    this.apiserver = new ManagedProcess('kube-apiserver', join(dir, 'kube-apiserver.log'));
    this.apiserverArgv = apiserverArgv;
    this.etcd.start(etcdArgv);
    this.kubeConfig = new KubeConfig();
    this.kubeconfigPath = join(dir, 'kubeconfig.yaml');
    this.rest = new KubeRest(this.kubeConfig);
  }

  static async start(opts: TestKubeOptions): Promise<TestKube> {
    const dir = mkdtempSync(join(tmpdir(), 'keg-kube-'));
    try {
      const [etcdClient, etcdPeer, apiPort] = (await freePorts(3)) as [number, number, number];
      const token = randomBytes(24).toString('hex');
      const argv = writeApiserverFiles(dir, token, opts.serviceAccountAdmission ?? false);
      const etcdUrl = `http://127.0.0.1:${etcdClient}`;
      const etcdArgv = [
        opts.binaries.etcd, '--name=keg', `--data-dir=${join(dir, 'etcd')}`,
        `--listen-client-urls=${etcdUrl}`, `--advertise-client-urls=${etcdUrl}`,
        `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`, `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
        `--initial-cluster=keg=http://127.0.0.1:${etcdPeer}`, '--unsafe-no-fsync', '--quota-backend-bytes=1073741824',
      ];
      const apiserverArgv = [opts.binaries.kubeApiserver, ...argv, `--etcd-servers=${etcdUrl}`, `--secure-port=${apiPort}`];
      const kube = new TestKube(dir, apiPort, etcdArgv, apiserverArgv, token, opts.startTimeoutMs ?? 60_000);
      try {
        await kube.waitEtcd(etcdUrl);
        await kube.startApiServer();
        if (opts.crdDir) await applyCrds(kube.rest, loadCrds(opts.crdDir));
        return kube;
      } catch (err) {
        await kube.stop();
        throw err;
      }
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
  }

  /** Starts (or restarts) the apiserver and waits until /readyz answers ok. */
  async startApiServer(): Promise<void> {
    this.apiserver.start(this.apiserverArgv);
    await this.until('kube-apiserver', this.apiserver, () => this.readyz());
    const ca = readFileSync(join(this.dir, 'certs', 'apiserver.crt'), 'utf8');
    this.kubeConfig.loadFromOptions({
      clusters: [{ name: 'keg', server: this.server, caData: Buffer.from(ca).toString('base64') }],
      users: [{ name: ADMIN_USER, token: this.adminToken }],
      contexts: [{ name: 'keg', cluster: 'keg', user: ADMIN_USER }],
      currentContext: 'keg',
    });
    writeFileSync(this.kubeconfigPath, this.kubeConfig.exportConfig(), { mode: 0o600 });
  }

  /** Stops only the apiserver; etcd and its data stay. */
  stopApiServer(): Promise<void> {
    return this.apiserver.stop();
  }

  async stop(): Promise<void> {
    await this.apiserver.stop();
    await this.etcd.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  private async waitEtcd(url: string): Promise<void> {
    await this.until('etcd', this.etcd, () =>
      new Promise<boolean>((resolve) => {
        httpGet(`${url}/health`, (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => resolve(body.includes('"health":"true"')));
        }).on('error', () => resolve(false));
      }),
    );
  }

  private readyz(): Promise<boolean> {
    return new Promise((resolve) => {
      const req = request(`${this.server}/readyz`, { rejectUnauthorized: false, headers: { Authorization: `Bearer ${this.adminToken}` }, timeout: 2_000 }, (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      });
      req.on('error', () => resolve(false));
      req.on('timeout', () => req.destroy());
      req.end();
    });
  }

  private async until(what: string, proc: ManagedProcess, ready: () => Promise<boolean>): Promise<void> {
    const deadline = Date.now() + this.startTimeoutMs;
    while (!(await ready())) {
      if (!proc.running || Date.now() > deadline) {
        const why = proc.running ? `not ready after ${this.startTimeoutMs} ms` : 'exited';
        throw new KegError('TESTKUBE_START_FAILED', `${what} ${why}; log tail:\n${proc.logTail()}`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/** Writes the service-account keys and token file; returns the fixed apiserver flags. */
function writeApiserverFiles(dir: string, token: string, serviceAccountAdmission: boolean): string[] {
  mkdirSync(join(dir, 'certs'), { mode: 0o700 });
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  writeFileSync(join(dir, 'sa.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  writeFileSync(join(dir, 'sa.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
  writeFileSync(join(dir, 'tokens.csv'), `${token},${ADMIN_USER},${ADMIN_USER},"system:masters"\n`, { mode: 0o600 });
  return [
    `--cert-dir=${join(dir, 'certs')}`,
    '--bind-address=127.0.0.1',
    '--advertise-address=127.0.0.1',
    '--service-cluster-ip-range=10.0.0.0/24',
    '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
    `--service-account-key-file=${join(dir, 'sa.pub')}`,
    `--service-account-signing-key-file=${join(dir, 'sa.key')}`,
    `--token-auth-file=${join(dir, 'tokens.csv')}`,
    '--authorization-mode=RBAC',
    '--allow-privileged=true',
    ...(serviceAccountAdmission ? [] : ['--disable-admission-plugins=ServiceAccount']),
    '--enable-priority-and-fairness=false',
    '--profiling=false',
    '--endpoint-reconciler-type=none',
  ];
}
