import { createConnection } from 'node:net';
import { KegError } from '../errors.ts';
import { assertValidKey } from './keys.ts';
import { assertCidr, assertEndpoint, assertUint } from './validate.ts';
import type { DeviceConfig } from './wg.ts';

const TIMEOUT_MS = 5000;

/**
 * Sets a wireguard-go device's private key and peers over its control socket
 * (the cross-platform UAPI, https://www.wireguard.com/xplatform/), as `wg
 * set <dev> private-key <file> peer …` would, without starting `wg` and
 * without a scratch file for the key: the key goes only over the root-only
 * unix socket. Peers are added or updated, never removed; each peer's
 * allowed IPs are replaced. One transaction: wireguard-go applies all of it
 * or reports an errno.
 */
export async function uapiConfigure(socketPath: string, config: DeviceConfig): Promise<void> {
  const lines = ['set=1', `private_key=${hex(config.privateKey.revealBase64())}`];
  if (config.listenPort !== undefined) {
    assertUint(config.listenPort, 'listen port', 0xffff);
    lines.push(`listen_port=${config.listenPort}`);
  }
  if (config.fwmark !== undefined) {
    assertUint(config.fwmark, 'fwmark', 0xffffffff);
    lines.push(`fwmark=${config.fwmark}`);
  }
  for (const p of config.peers ?? []) {
    assertValidKey(p.publicKey, 'peer public key');
    lines.push(`public_key=${hex(p.publicKey)}`);
    if (p.endpoint !== undefined) {
      assertEndpoint(p.endpoint);
      lines.push(`endpoint=${p.endpoint}`);
    }
    if (p.persistentKeepalive !== undefined) {
      assertUint(p.persistentKeepalive, 'persistent keepalive', 0xffff);
      lines.push(`persistent_keepalive_interval=${p.persistentKeepalive}`);
    }
    lines.push('replace_allowed_ips=true');
    for (const cidr of p.allowedIps) {
      assertCidr(cidr);
      lines.push(`allowed_ip=${cidr}`);
    }
  }
  const answer = await exchange(socketPath, lines.join('\n') + '\n\n');
  const errno = /^errno=(-?\d+)$/m.exec(answer)?.[1];
  if (errno !== '0') throw new KegError('WG_COMMAND_FAILED', `wireguard-go at ${socketPath} refused the configuration (errno ${errno ?? 'missing'})`);
}

function hex(base64Key: string): string {
  return Buffer.from(base64Key, 'base64').toString('hex');
}

/** Writes `request` and reads until the blank line that ends wireguard-go's answer. */
function exchange(socketPath: string, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(socketPath);
    let answer = '';
    const fail = (cause: unknown) => reject(new KegError('WG_NO_DEVICE', `cannot talk to wireguard-go at ${socketPath}`, { cause }));
    socket.setTimeout(TIMEOUT_MS, () => socket.destroy(new Error(`no answer within ${TIMEOUT_MS} ms`)));
    socket.on('error', fail);
    socket.on('data', (c: Buffer) => {
      answer += c.toString('utf8');
      if (answer.endsWith('\n\n')) {
        socket.end();
        resolve(answer);
      }
    });
    socket.on('end', () => fail(new Error('closed before answering')));
    socket.write(request);
  });
}
