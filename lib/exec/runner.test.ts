import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { CommandError, ExecRunner, inNetns } from './runner.ts';
import { FakeRunner, failure } from './fake.ts';
import { tempNetns } from '../../testenv/netns.ts';

const runner = new ExecRunner();

t.test('runs argv without a shell and returns stdout', async (t) => {
  const { stdout } = await runner.run(['echo', 'a b', '$HOME;']);
  t.equal(stdout, 'a b $HOME;\n');
});

t.test('passes stdin through', async (t) => {
  const { stdout } = await runner.run(['cat'], { input: 'secret-ish' });
  t.equal(stdout, 'secret-ish');
});

t.test('a streamed stdin reaches the child chunk by chunk, before the rest is known', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'keg-runner-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const seen = join(dir, 'seen');
  let actedEarly = false;
  async function* input(): AsyncGenerator<string> {
    yield 'one\n';
    // The second chunk waits for the child to act on the first.
    for (let i = 0; i < 500 && !existsSync(seen); i++) await sleep(10);
    actedEarly = existsSync(seen);
    yield 'two\n';
  }
  const { stdout } = await runner.run(['sh', '-c', 'read a; echo "$a" > "$1"; cat', 'sh', seen], { input: input() });
  t.ok(actedEarly, 'the child read the first chunk while the second was held back');
  t.equal(readFileSync(seen, 'utf8'), 'one\n');
  t.equal(stdout, 'two\n');
});

t.test('onStdout sees output as it comes, so the input can answer it', async (t) => {
  let printed: (line: string) => void;
  const question = new Promise<string>((resolve) => (printed = resolve));
  async function* answer(): AsyncGenerator<string> {
    yield `${(await question).trim()} back\n`;
  }
  const { stdout } = await runner.run(['sh', '-c', 'echo ping; read a; echo "$a"'], { input: answer(), onStdout: (b) => printed(b.toString()) });
  t.equal(stdout, 'ping\nping back\n');
});

t.test('a streamed stdin that fails kills the child and fails the run with its cause', async (t) => {
  const boom = new Error('no more input');
  async function* input(): AsyncGenerator<string> {
    yield 'partial\n';
    throw boom;
  }
  const err = (await runner.run(['cat'], { input: input() }).catch((e: unknown) => e)) as CommandError;
  t.ok(err instanceof CommandError);
  t.equal(err.cause, boom);
  t.match(err.message, /its input failed/);
});

t.test('non-zero exit carries argv, exit code and stderr', async (t) => {
  const err = await runner.run(['sh', '-c', 'echo boom >&2; exit 3']).catch((e: unknown) => e);
  t.ok(err instanceof CommandError);
  const ce = err as CommandError;
  t.equal(ce.code, 'COMMAND_FAILED');
  t.equal(ce.exitCode, 3);
  t.equal(ce.stderr, 'boom\n');
  t.same(ce.argv, ['sh', '-c', 'echo boom >&2; exit 3']);
  t.match(ce.message, /exit code 3: boom/);
});

t.test('a missing binary is a CommandError with a null exit code', async (t) => {
  const err = (await runner.run(['/nonexistent/binary']).catch((e: unknown) => e)) as CommandError;
  t.equal(err.exitCode, null);
  t.match(err.message, /cannot start/);
  t.equal((err.cause as NodeJS.ErrnoException).code, 'ENOENT');
});

t.test('empty argv is rejected', async (t) => {
  await t.rejects(runner.run([]), { code: 'COMMAND_FAILED' });
});

t.test('timeout kills the child', async (t) => {
  const err = (await runner.run(['sleep', '5'], { timeoutMs: 100 }).catch((e: unknown) => e)) as CommandError;
  t.match(err.message, /killed by SIGTERM/);
});

t.test('a child that leaves a grandchild holding its output does not hang the runner', async (t) => {
  const started = Date.now();
  const { stdout } = await runner.run(['sh', '-c', 'sleep 3 & echo started']);
  t.equal(stdout, 'started\n');
  t.ok(Date.now() - started < 2_000, 'resolved when the child exited, not when the grandchild did');
});

t.test('errors keep stdout, where some tools report', async (t) => {
  const err = (await runner.run(['sh', '-c', 'echo on-stdout; exit 2']).catch((e: unknown) => e)) as CommandError;
  t.equal(err.stdout, 'on-stdout\n');
});

t.test('env is merged over the parent environment', async (t) => {
  const { stdout } = await runner.run(['sh', '-c', 'echo $KEG_TEST_VAR'], { env: { KEG_TEST_VAR: 'x' } });
  t.equal(stdout, 'x\n');
});

async function* twoLines(): AsyncGenerator<string> {
  yield 'a\n';
  yield 'b\n';
}

t.test('the fake runner records a streamed input whole', async (t) => {
  const fake = new FakeRunner();
  await fake.run(['ip', '-batch', '-'], { input: twoLines() });
  t.same(fake.calls, [{ argv: ['ip', '-batch', '-'], input: 'a\nb\n' }]);
});

t.test('inNetns prefixes nsenter with the path', async (t) => {
  const fake = new FakeRunner();
  await inNetns(fake, '/proc/1/ns/net').run(['ip', 'link'], { input: 'i' });
  t.same(fake.calls, [{ argv: ['nsenter', '--net=/proc/1/ns/net', '--', 'ip', 'link'], input: 'i' }]);
  t.equal(inNetns(fake, undefined), fake);
  fake.calls.length = 0;
  await inNetns(inNetns(fake, '/run/netns/node'), '/run/netns/pod').run(['ip', 'link']);
  t.same(fake.calls.map((c) => c.argv), [['nsenter', '--net=/run/netns/pod', '--', 'ip', 'link']], 'nested: the inner namespace replaces the outer, one nsenter');
});

t.test('inNetns really enters the namespace', async (t) => {
  const ns = await tempNetns(t, 'runner');
  const { stdout } = await inNetns(runner, ns.path).run(['readlink', '/proc/self/ns/net']);
  const { stdout: host } = await runner.run(['readlink', '/proc/self/ns/net']);
  const { stdout: direct } = await runner.run(['ip', 'netns', 'identify', String(process.pid)]);
  t.not(stdout, host, 'a different namespace than ours');
  t.equal(direct.trim(), '', 'we ourselves are not in a named namespace');
  const { stdout: inside } = await inNetns(runner, ns.path).run(['ip', '-j', 'link', 'show']);
  t.match(inside, /"ifname":"lo"/, 'sees only the new namespace\'s loopback');
  t.notMatch(inside, /eth0/);
});

t.test('FakeRunner answers from its responder', async (t) => {
  const fake = new FakeRunner((argv) => (argv[0] === 'bad' ? failure(argv, 'nope') : argv[0] === 'str' ? 'out' : undefined));
  t.same(await fake.run(['str']), { stdout: 'out', stderr: '' });
  t.same(await fake.run(['other']), { stdout: '', stderr: '' });
  t.match(await fake.run(['bad']).catch((e: unknown) => e), { stderr: 'nope', exitCode: 1 });
  t.same(fake.lines(), ['str', 'other', 'bad']);
});
