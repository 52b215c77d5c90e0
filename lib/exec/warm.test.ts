import { setTimeout as sleep } from 'node:timers/promises';
import t, { type Test } from 'tap';
import { CommandError, ExecRunner, inNetns } from './runner.ts';
import { WarmRunner } from './warm.ts';
import { tempNetns } from '../../testenv/netns.ts';

/** A warm runner whose shells are ready: one command run cold, then the pause. */
async function ready(t: Test, base = new ExecRunner(), size = 2): Promise<WarmRunner> {
  const warm = new WarmRunner(base, size);
  t.teardown(() => warm.stop());
  await warm.run(['true']);
  for (let i = 0; i < 200 && warm.idle < size; i++) await sleep(5);
  return warm;
}

t.test('a shell started ahead runs the command with its arguments as values, stdin and stdout its own', async (t) => {
  const warm = await ready(t);
  t.equal(warm.idle, 2);
  const { stdout } = await warm.run(['printf', '%s|', 'a  b', ' $HOME;', '', '"q\'\\']);
  t.equal(stdout, 'a  b| $HOME;||"q\'\\|');
  t.equal(warm.idle, 1, 'the command took a shell');
  const cat = await warm.run(['cat'], { input: 'x\ny' });
  t.equal(cat.stdout, 'x\ny');
  t.equal(warm.idle, 0);
});

t.test('a conversation: what the command prints reaches onStdout before its input ends', async (t) => {
  const warm = await ready(t);
  let answered = false;
  const seen: string[] = [];
  let resolve!: () => void;
  const printed = new Promise<void>((r) => (resolve = r));
  async function* input(): AsyncGenerator<string> {
    yield 'one\n';
    await printed;
    answered = true;
    yield 'two\n';
  }
  const { stdout } = await warm.run(['sh', '-c', 'read a; echo "got $a"; read b; echo "got $b"'], { input: input(), onStdout: (b) => (seen.push(b.toString()), resolve()) });
  t.ok(answered);
  t.equal(stdout, 'got one\ngot two\n');
  t.equal(seen[0], 'got one\n');
  t.equal(warm.idle, 1);
});

t.test('a failure carries the command, not the shell: exit code, stderr, a missing binary', async (t) => {
  const warm = await ready(t);
  const err = await warm.run(['sh', '-c', 'echo bad >&2; exit 3']).catch((e: unknown) => e);
  t.ok(err instanceof CommandError);
  t.same((err as CommandError).argv, ['sh', '-c', 'echo bad >&2; exit 3']);
  t.equal((err as CommandError).exitCode, 3);
  t.equal((err as CommandError).stderr, 'bad\n');
  const missing = await warm.run(['keg-no-such-binary']).catch((e: unknown) => e);
  t.ok(missing instanceof CommandError);
  t.equal((missing as CommandError).exitCode, 127);
  t.match((missing as CommandError).message, /^keg-no-such-binary: exit code 127/);
});

t.test('the timeout counts from the hand-over and kills the command', async (t) => {
  const warm = await ready(t);
  await sleep(300);
  const start = performance.now();
  const err = await warm.run(['sleep', '30'], { timeoutMs: 200 }).catch((e: unknown) => e);
  t.ok(err instanceof CommandError);
  t.match((err as CommandError).message, /^sleep 30: killed by SIGKILL/);
  t.ok(performance.now() - start < 5000);
  t.equal(warm.idle, 1, 'it was handed over');
});

t.test('what cannot be handed over runs through the base runner', async (t) => {
  const warm = await ready(t);
  t.equal((await warm.run(['echo', 'a\nb'])).stdout, 'a\nb\n');
  t.equal((await warm.run(['sh', '-c', 'echo $KEG_X'], { env: { KEG_X: 'env' } })).stdout, 'env\n');
  t.equal((await warm.run(['pwd'], { cwd: '/' })).stdout, '/\n');
  t.equal(warm.idle, 2, 'no shell was used');
});

t.test('used shells are replaced once nothing runs; stop ends the waiting ones', async (t) => {
  const warm = await ready(t);
  await Promise.all([warm.run(['true']), warm.run(['true']), warm.run(['true'])]);
  t.equal(warm.idle, 0, 'two handed over, the third ran cold, none replaced meanwhile');
  for (let i = 0; i < 200 && warm.idle < 2; i++) await sleep(5);
  t.equal(warm.idle, 2);
  await warm.stop();
  t.equal(warm.idle, 0);
  t.equal((await warm.run(['echo', 'after'])).stdout, 'after\n', 'still runs, through the base runner');
});

t.test('the shells start in the base runner\'s namespace; a command may enter another', async (t) => {
  const node = await tempNetns(t, 'wn');
  const pod = await tempNetns(t, 'wp');
  const base = inNetns(new ExecRunner(), node.path);
  await base.run(['ip', 'link', 'add', 'keg-wn0', 'type', 'veth', 'peer', 'name', 'keg-wn1']);
  const warm = await ready(t, base);
  t.match((await warm.run(['ip', '-o', 'link', 'show'])).stdout, /keg-wn0/);
  const inPod = await inNetns(warm, pod.path).run(['ip', '-o', 'link', 'show']);
  t.notMatch(inPod.stdout, /keg-wn0/);
  t.equal(warm.idle, 0);
});
