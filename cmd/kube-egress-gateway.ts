#!/usr/bin/env node
// The one CLI of the product: a subcommand per long-running part. The specs
// (flags, help) are light; each part's code loads only when it runs.
import { basename } from 'node:path';
import { programSpec, runCli } from '../lib/cli.ts';
import { operatorCommand } from '../operator/flags.ts';
import { gatewayCommand } from '../gateway/config.ts';
import { cniManagerCommand } from '../cni/manager/flags.ts';
import { doctorCommand, KUBECTL_PLUGIN } from '../doctor/flags.ts';
import { wireguardHostCommand } from '../lib/wireguard/host-command.ts';

/** Every command of the CLI, for the help walk of the tests and docs. */
export const PROGRAM_SPEC = programSpec([operatorCommand, gatewayCommand, cniManagerCommand, wireguardHostCommand, doctorCommand]);

if (import.meta.main) {
  // Exit explicitly: idle keep-alive sockets (Azure SDK, watches) must not keep a finished part alive.
  // Run as kubectl's plugin (kubectl egress-doctor), the executable's name is the subcommand.
  const asPlugin = basename(process.argv[1] ?? '').replace(/\.[cm]?[jt]s$/, '') === KUBECTL_PLUGIN;
  process.exit(await runCli(PROGRAM_SPEC, [...(asPlugin ? ['doctor'] : []), ...process.argv.slice(2)]));
}
