/** Runs the operator alone (tests, local runs): `npx node operator/bin.ts --cloud-config ...`. */
import { main } from './cmd.ts';

// Exit explicitly: idle keep-alive sockets of the Azure SDK must not hold the process open.
process.exit(await main(process.argv.slice(2)));
