import t from 'tap';
import { linkName, namesFor, parseGatewayFlags, portOfLink } from './config.ts';
import { parseDuration } from '../lib/duration.ts';

t.test('defaults', async (t) => {
  const c = parseGatewayFlags([], {});
  t.match(c, {
    imdsEndpoint: 'http://169.254.169.254', netnsName: 'keg-gw', linkPrefix: 'wg-', hostInterface: 'eth0',
    probe: { host: '0.0.0.0', port: 8082 }, metrics: { port: 8080 }, drainMs: 15_000, resyncMs: 60_000,
    namespace: 'kube-egress-gateway-system', nodeName: undefined,
  });
  t.equal(parseGatewayFlags([], { POD_NAMESPACE: 'egress' }).namespace, 'egress', 'namespace from the downward API');
});

t.test('flags are validated and named in errors', async (t) => {
  const c = parseGatewayFlags(['--node-name', 'aks-gw-0', '--imds-endpoint', 'http://127.0.0.1:9/', '--drain-seconds', '2m', '--resync-interval', '500ms', '--link-prefix', 'gA-'], {});
  t.match(c, { nodeName: 'aks-gw-0', imdsEndpoint: 'http://127.0.0.1:9', drainMs: 120_000, resyncMs: 500, linkPrefix: 'gA-' });
  for (const [args, flag] of [
    [['--node-name', 'Bad_Name'], 'node-name'],
    [['--imds-endpoint', 'ftp://x'], 'imds-endpoint'],
    [['--netns-name', '../x'], 'netns-name'],
    [['--link-prefix', 'much-too-long-'], 'link-prefix'],
    [['--host-interface', '-eth0'], 'host-interface'],
    [['--drain-seconds', 'soon'], 'drain-seconds'],
    [['--namespace', 'Not_A_Namespace'], 'namespace'],
    [['--bogus'], 'bogus'],
  ] as const) {
    t.throws(() => parseGatewayFlags([...args], {}), { code: 'USAGE', message: new RegExp(flag) }, flag);
  }
});

t.test('durations', async (t) => {
  t.equal(parseDuration('30', 'x'), 30_000, 'plain seconds');
  t.equal(parseDuration('1h', 'x'), 3_600_000);
  t.throws(() => parseDuration('1d', 'x'));
});

t.test('names derive from flags, so several daemons can share a host', async (t) => {
  const a = namesFor({ netnsName: 'keg-gw', linkPrefix: 'wg-' });
  const b = namesFor({ netnsName: 'keg-gw-node1', linkPrefix: 'n1-' });
  t.match(a.hostVeth, /^kgw-[0-9a-f]{8}$/);
  t.not(a.hostVeth, b.hostVeth);
  t.equal(linkName(a, 6000), 'wg-6000');
  t.equal(linkName(b, 65535), 'n1-65535');
  t.equal(portOfLink(a, 'wg-6000'), 6000);
  t.equal(portOfLink(a, 'wg-x'), undefined);
  t.equal(portOfLink(a, 'wg-99999'), undefined);
  t.equal(portOfLink(a, 'eth0'), undefined);
});
