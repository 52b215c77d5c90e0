import t from 'tap';
import { hostname } from 'node:os';
import { createLogger, parseLevel, silentLogger } from './log.ts';
import { createLineLogger } from './log-line.ts';
import { KegError, errorCode } from './errors.ts';

function capture(level?: 'debug' | 'info' | 'warn' | 'error') {
  const lines: Record<string, unknown>[] = [];
  const log = createLogger({ level, component: 'x', write: (l) => lines.push(JSON.parse(l) as Record<string, unknown>), now: () => 0 });
  return { lines, log };
}

t.test('one JSON line per call with the standard fields and bound fields', async (t) => {
  const { lines, log } = capture();
  log.with({ node: 'n0' }).info('hello', { n: 1 });
  t.same(lines, [{ level: 30, time: 0, pid: process.pid, hostname: hostname(), component: 'x', node: 'n0', n: 1, msg: 'hello' }]);
});

t.test('filters by level; numeric levels as pino writes them', async (t) => {
  const { lines, log } = capture('warn');
  log.debug('d');
  log.info('i');
  log.warn('w');
  log.error('e');
  t.same(lines.map((l) => l.level), [40, 50]);
});

t.test('secrets are redacted by path; the credential kind is not a secret', async (t) => {
  const { lines, log } = capture('debug');
  log.info('keys', { privateKey: 'AAAA', config: { aadClientSecret: 's', token: 't' }, password: 'p', credential: 'workload-identity' });
  const text = JSON.stringify(lines);
  for (const secret of ['AAAA', '"s"', '"t"', '"p"']) t.notMatch(text, secret);
  t.match(lines[0], { credential: 'workload-identity', privateKey: '[redacted]', config: { aadClientSecret: '[redacted]' } });
});

t.test('err: type, code, message, cause; each message once; the stack at debug only', async (t) => {
  const sys = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
  const err = new KegError('KUBE_UNREACHABLE', 'GET /api: connect ECONNREFUSED 127.0.0.1:1', { cause: sys });
  const info = capture('info');
  info.log.error('failed', { err });
  t.same(info.lines[0]?.err, { type: 'KegError', code: 'KUBE_UNREACHABLE', message: 'GET /api: connect ECONNREFUSED 127.0.0.1:1', cause: { type: 'Error', code: 'ECONNREFUSED' } });
  const debug = capture('debug');
  debug.log.error('failed', { err });
  t.match(debug.lines[0]?.err, { stack: /KegError: GET \/api/, cause: { stack: /Error: connect ECONNREFUSED/ } });
});

t.test('the plugin\'s line logger writes the same shape without pino', async (t) => {
  const lines: Record<string, unknown>[] = [];
  const log = createLineLogger({ level: 'info', write: (l) => lines.push(JSON.parse(l) as Record<string, unknown>) }).with({ component: 'kube-egress-cni' });
  log.debug('hidden');
  log.error('failed', { err: new KegError('CNI_X', 'outer', { cause: new Error('inner') }), token: 'tok', nested: { password: 'p' } });
  t.equal(lines.length, 1);
  t.match(lines[0], { level: 50, pid: process.pid, hostname: hostname(), component: 'kube-egress-cni', msg: 'failed', token: '[redacted]', nested: { password: '[redacted]' } });
  t.same(lines[0]?.err, { type: 'KegError', code: 'CNI_X', message: 'outer', cause: { type: 'Error', code: 'UNKNOWN', message: 'inner' } });
  t.same(Object.keys(lines[0] ?? {}).slice(0, 4), ['level', 'time', 'pid', 'hostname'], 'field order as pino');
});

t.test('levels, silent logger, error helpers', async (t) => {
  t.equal(parseLevel('debug'), 'debug');
  t.throws(() => parseLevel('loud'), /invalid log level "loud"/);
  silentLogger.with({}).error('nothing happens');
  t.equal(errorCode(new KegError('A', 'a')), 'A');
  t.equal(errorCode(Object.assign(new Error('x'), { code: 'ENOENT' })), 'ENOENT');
  t.equal(errorCode('str'), 'UNKNOWN');
});
