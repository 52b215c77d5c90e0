import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { KegError, describeError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { assertIfname } from './validate.ts';

/*
 * The tunnel host: a process whose only job is to be the parent of the
 * wireguard-go processes of one node, so that they outlive the daemon that
 * asked for them. A container's processes die with it (its PID namespace ends
 * with its init; runc kills what is left in its cgroup), so a wireguard-go
 * started by the gateway daemon or the node agent dies when a rollout
 * replaces that pod, and its tun link and every session with it. Kernel
 * WireGuard links belong to no process and need none of this. See
 * docs/gateway.md, "Userspace tunnels outlive the daemon".
 *
 * Protocol: one JSON line per connection, `{"name":"wg-6000"}`, answered
 * with `{"ok":true}` once wireguard-go's control socket accepts, or
 * `{"ok":false,"code":...,"message":...}`.
 */

const RequestSchema = z.object({ name: z.string() });
const ReplySchema = z.union([
  z.object({ ok: z.literal(true) }),
  z.object({ ok: z.literal(false), code: z.string(), message: z.string() }),
]);
type Reply = z.output<typeof ReplySchema>;

export interface WireguardHostOptions {
  /** The unix socket the daemons ask on (mode 0600: root only). */
  socket: string;
  log: Logger;
  wireguardGo?: string;
  /** Where wireguard-go puts its control sockets; fixed in wireguard-go, configurable only for tests. */
  socketDir?: string;
  /** How long a wireguard-go may take to open its control socket. */
  startTimeoutMs?: number;
}

/** Whether something accepts connections on the unix socket at `path`. */
function accepts(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = createConnection(path);
    c.once('connect', () => { c.destroy(); resolve(true); });
    c.once('error', () => resolve(false));
  });
}

/** The first line the peer sends (without iterating the stream, which would destroy it on return). */
function readLine(sock: Socket, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const done = (err?: Error) => {
      clearTimeout(timer);
      sock.off('data', onData).off('end', onEnd).off('error', done);
      if (err) reject(err);
      else resolve(buf.split('\n')[0] ?? '');
    };
    const onData = (chunk: Buffer) => {
      buf += String(chunk);
      if (buf.includes('\n')) done();
    };
    const onEnd = () => done();
    const timer = setTimeout(() => { done(new Error(`no answer within ${timeoutMs} ms`)); sock.destroy(); }, timeoutMs);
    sock.on('data', onData).on('end', onEnd).on('error', done);
  });
}

export class WireguardHost {
  private readonly o: Required<WireguardHostOptions>;
  private readonly children = new Map<string, ChildProcess>();
  private server: Server | undefined;

  constructor(o: WireguardHostOptions) {
    this.o = { wireguardGo: 'wireguard-go', socketDir: '/var/run/wireguard', startTimeoutMs: 10_000, ...o };
  }

  /** Serves on the socket; a socket file left by an earlier host is replaced. */
  async listen(): Promise<void> {
    rmSync(this.o.socket, { force: true });
    // allowHalfOpen: an asker may close its side once it has sent the request.
    const server = createServer({ allowHalfOpen: true }, (sock) => void this.answer(sock));
    server.listen(this.o.socket);
    await once(server, 'listening');
    chmodSync(this.o.socket, 0o600);
    this.server = server;
  }

  /** The names of the tunnels this host runs now. */
  get running(): string[] {
    return [...this.children.keys()];
  }

  /**
   * One request. An asker that goes away first (a daemon killed mid-request
   * by its rollout) must not take the host down: that would end every tunnel
   * of the node. Its socket errors are ignored and the answer is dropped.
   */
  private async answer(sock: Socket): Promise<void> {
    sock.on('error', () => {});
    let reply: Reply;
    try {
      const { name } = RequestSchema.parse(JSON.parse(await readLine(sock, 5_000)));
      assertIfname(name);
      await this.start(name);
      reply = { ok: true };
    } catch (err) {
      reply = { ok: false, code: err instanceof KegError ? err.code : 'WG_LINK_CREATE_FAILED', message: describeError(err) };
    }
    if (sock.writable) sock.end(`${JSON.stringify(reply)}\n`);
  }

  /**
   * Starts `wireguard-go -f <name>` as a child of this process (in the
   * foreground, so this process reaps it) and resolves once its control
   * socket accepts. A live socket of that name is refused; a stale one
   * wireguard-go replaces itself.
   */
  async start(name: string): Promise<void> {
    const control = `${this.o.socketDir}/${name}.sock`;
    if (this.children.has(name) || (await accepts(control))) {
      throw new KegError('WG_LINK_EXISTS', `a wireguard-go device named ${name} already exists on this host`);
    }
    // Only PATH: wireguard-go steers itself by its environment (lib/wireguard/link.ts).
    const child = spawn(this.o.wireguardGo, ['-f', name], { stdio: ['ignore', 'inherit', 'inherit'], env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' } });
    this.children.set(name, child);
    const state = { exited: false };
    child.once('error', () => (state.exited = true));
    child.once('exit', (code, signal) => {
      state.exited = true;
      if (this.children.get(name) === child) this.children.delete(name);
      this.o.log.info('wireguard-go exited', { name, code, signal });
    });
    for (const deadline = Date.now() + this.o.startTimeoutMs; !state.exited && Date.now() < deadline; await sleep(10)) {
      if (await accepts(control)) {
        this.o.log.info('wireguard-go started', { name, pid: child.pid });
        return;
      }
    }
    child.kill('SIGKILL');
    throw new KegError('WG_LINK_CREATE_FAILED', `wireguard-go for ${name} ${state.exited ? 'exited' : 'did not open its control socket'} before it was ready`);
  }

  /**
   * Stops serving and ends every tunnel (SIGTERM: wireguard-go removes its
   * link and control socket). Only when the host itself goes: its pod is
   * deleted (uninstall, node removal), never in a rollout of the daemons.
   */
  async close(): Promise<void> {
    this.server?.close();
    const exits = [...this.children.values()].map((c) => (c.exitCode === null && c.signalCode === null ? once(c, 'exit') : undefined));
    for (const c of this.children.values()) c.kill('SIGTERM');
    await Promise.all(exits);
    rmSync(this.o.socket, { force: true });
  }
}

/** Asks the tunnel host on `hostSocket` to start wireguard-go for `name`; resolves once it runs. */
export async function startThroughHost(hostSocket: string, name: string, timeoutMs = 15_000): Promise<void> {
  let line: string;
  try {
    const sock = createConnection(hostSocket);
    await once(sock, 'connect');
    sock.write(`${JSON.stringify({ name })}\n`);
    line = await readLine(sock, timeoutMs);
  } catch (err) {
    throw new KegError('WG_HOST_UNAVAILABLE', `the tunnel host on ${hostSocket} did not answer for ${name}`, { cause: err });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    parsed = undefined;
  }
  const reply = ReplySchema.safeParse(parsed);
  if (!reply.success) throw new KegError('WG_HOST_UNAVAILABLE', `the tunnel host on ${hostSocket} gave no valid answer for ${name}`);
  if (!reply.data.ok) throw new KegError(reply.data.code, reply.data.message);
}
