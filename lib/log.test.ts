import t from 'tap';
import { createLogger, parseLevel, silentLogger } from './log.ts';
import { KegError, describeError, errorCode } from './errors.ts';

function capture(level?: 'debug' | 'info' | 'warn' | 'error') {
  const lines: Record<string, unknown>[] = [];
  const log = createLogger({ level, write: (l) => lines.push(JSON.parse(l) as Record<string, unknown>), now: () => new Date(0) });
  return { lines, log };
}

t.test('writes one JSON line per call with bound fields', async (t) => {
  const { lines, log } = capture();
  log.with({ component: 'x' }).info('hello', { n: 1 });
  t.same(lines, [{ time: '1970-01-01T00:00:00.000Z', level: 'info', msg: 'hello', component: 'x', n: 1 }]);
});

t.test('filters by level', async (t) => {
  const { lines, log } = capture('warn');
  log.debug('d');
  log.info('i');
  log.warn('w');
  log.error('e');
  t.same(lines.map((l) => l.level), ['warn', 'error']);
});

t.test('never writes secret-looking fields, however deep', async (t) => {
  const { lines, log } = capture('debug');
  log.info('keys', { privateKey: 'AAAA', nested: { clientSecret: 's', list: [{ token: 't', ok: 1 }] }, PrivateKey: 'B', password: 'p' });
  const text = JSON.stringify(lines);
  for (const secret of ['AAAA', '"s"', '"t"', '"B"', '"p"']) t.notMatch(text, secret);
  t.match(text, /"ok":1/);
});

t.test('errors are logged with message chain and code', async (t) => {
  const { lines, log } = capture();
  log.error('failed', { err: new KegError('X_FAILED', 'outer', { cause: new Error('inner') }) });
  t.same(lines[0]?.err, { message: 'outer: inner', code: 'X_FAILED' });
});

t.test('levels, silent logger, error helpers', async (t) => {
  t.equal(parseLevel('debug'), 'debug');
  t.throws(() => parseLevel('loud'), /invalid log level "loud"/);
  silentLogger.error('nothing happens');
  t.equal(errorCode(new KegError('A', 'a')), 'A');
  t.equal(errorCode(Object.assign(new Error('x'), { code: 'ENOENT' })), 'ENOENT');
  t.equal(errorCode('str'), 'UNKNOWN');
  t.equal(describeError('plain'), 'plain');
});
