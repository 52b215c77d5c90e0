// The one CLI of the product: a subcommand per long-running part. Each part's
// module exports main(args) and returns the process exit code.
import { describeError, errorCode } from '../lib/errors.ts';
import { VERSION } from '../lib/version.ts';

const SUBCOMMANDS: Record<string, { describe: string; load: () => Promise<{ main(args: string[]): Promise<number> }> }> = {
  operator: { describe: 'turn StaticGatewayConfigurations into Azure resources (Deployment)', load: () => import('../operator/cmd.ts') },
  gateway: { describe: 'terminate tunnels and SNAT on a gateway node (DaemonSet, gateway nodes)', load: () => import('../gateway/cmd.ts') },
  'cni-manager': { describe: 'install the CNI plugin and serve it (DaemonSet, other nodes)', load: () => import('../cni/manager/cmd.ts') },
};

function usage(): string {
  const lines = Object.entries(SUBCOMMANDS).map(([name, s]) => `  ${name.padEnd(12)} ${s.describe}`);
  return `usage: kube-egress-gateway <command> [flags]\n\ncommands:\n${lines.join('\n')}\n\nRun 'kube-egress-gateway <command> --help' for its flags, 'kube-egress-gateway --version' for the version.\n`;
}

const [command, ...args] = process.argv.slice(2);
const sub = command ? SUBCOMMANDS[command] : undefined;
if (command === '--version') {
  process.stdout.write(`kube-egress-gateway ${VERSION}\n`);
} else if (!sub) {
  process.stderr.write(command && command !== '--help' && command !== '-h' ? `unknown command ${JSON.stringify(command)}\n\n${usage()}` : usage());
  process.exitCode = command === '--help' || command === '-h' ? 0 : 2;
} else {
  let code: number;
  try {
    code = await (await sub.load()).main(args);
  } catch (err) {
    process.stderr.write(`kube-egress-gateway ${command}: ${describeError(err)} [${errorCode(err)}]\n`);
    code = errorCode(err) === 'USAGE' ? 2 : 1;
  }
  // Exit explicitly: idle keep-alive sockets (Azure SDK, watches) must not keep a finished part alive.
  process.exit(code);
}
