import t from 'tap';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { defaultSecretDir, withSecretFile } from './secretfile.ts';

t.test('the file holds the content, is private, and is gone afterwards', async (t) => {
  let seen = '';
  const result = await withSecretFile('s3cret', async (path) => {
    t.equal(readFileSync(path, 'utf8'), 's3cret');
    t.equal(statSync(path).mode & 0o777, 0o600);
    t.equal(statSync(dirname(path)).mode & 0o777, 0o700);
    seen = path;
    return 7;
  });
  t.equal(result, 7);
  t.notOk(existsSync(dirname(seen)), 'directory removed');
});

t.test('removed also when fn fails', async (t) => {
  let seen = '';
  const dir = t.testdir({});
  await t.rejects(
    withSecretFile(
      'x',
      async (path) => {
        seen = path;
        throw new Error('boom');
      },
      dir,
    ),
    /boom/,
  );
  t.ok(seen.startsWith(dir));
  t.notOk(existsSync(dirname(seen)));
});

t.test('defaults to tmpfs', async (t) => {
  t.equal(defaultSecretDir(), '/dev/shm');
});
