// Runs the gateway daemon on its own (`npx node gateway/bin.ts --node-name ...`),
// as the CLI's `gateway` subcommand does; tests and the lab start it this way.
import { main } from './cmd.ts';

process.exit(await main(process.argv.slice(2)));
