import t from 'tap';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Processes } from './processes.ts';

/** A process that logs `msg` as a JSON line (with its pid, as pino does) after `delayMs`, then idles. */
const logsAfter = (msg: string, delayMs: number) => [process.execPath, '-e',
  `setTimeout(() => console.log(JSON.stringify({ pid: process.pid, msg: ${JSON.stringify(msg)} })), ${delayMs}); setInterval(() => {}, 1000);`];

t.test('untilLogged counts only the running process\'s line, also where a renamed one shares its log file (a surge restart)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'keg-procs-'));
  const procs = new Processes(dir);
  t.teardown(async () => {
    await procs.stopAll();
    rmSync(dir, { recursive: true, force: true });
  });
  await t.rejects(procs.untilLogged('gw-next', 'serving probes', 1_000), /not running/, 'no process by that name');
  // The first surge: the new daemon, then known by the old one's name.
  procs.start('gw-next', logsAfter('serving probes', 0));
  await procs.untilLogged('gw-next', 'serving probes', 20_000);
  procs.rename('gw-next', 'gw');
  // The next surge: its new daemon writes to the same file, and serves only later.
  const next = procs.start('gw-next', logsAfter('serving probes', 1_500));
  const pid = next.pid as number;
  await procs.untilLogged('gw-next', 'serving probes', 20_000);
  const log = readFileSync(join(dir, 'gw-next.log'), 'utf8');
  t.ok(log.includes(`{"pid":${pid},"msg":"serving probes"}`), 'it waited for the new process\'s line, not the old one\'s in the same file');
  t.ok(log.includes(`{"pid":${procs.get('gw')?.pid},"msg":"serving probes"}`), 'the renamed process logs to that file too');
});
