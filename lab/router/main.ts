// The VNet router of the local lab, run inside the router namespace:
//   nsenter --net=/var/run/netns/<router> node lab/router/main.ts --config F --status F --vnet-if vnet0 --internet-if inet0
import { loggerFor, parseFlags, shutdownSignal } from '../../lib/cli.ts';
import { ExecRunner } from '../../lib/exec/runner.ts';
import { RouterDaemon } from './daemon.ts';

const flags = parseFlags(process.argv.slice(2), {
  config: { type: 'string' },
  status: { type: 'string' },
  'vnet-if': { type: 'string', default: 'vnet0' },
  'internet-if': { type: 'string', default: 'inet0' },
  'log-level': { type: 'string', default: 'info' },
});
if (!flags.config || !flags.status) throw new Error('--config and --status are required');
const log = loggerFor('lab-router', flags['log-level']);
const daemon = new RouterDaemon({
  runner: new ExecRunner(), log, configPath: flags.config, statusPath: flags.status,
  vnetIf: flags['vnet-if'], internetIf: flags['internet-if'],
});
await daemon.start();
shutdownSignal(log).addEventListener('abort', () => daemon.stop());
