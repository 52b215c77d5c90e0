import t from 'tap';
import { inspect } from 'node:util';
import { parseDump } from './dump.ts';

// Real-looking keys (generated once with wg genkey / wg pubkey).
const PRIV = 'wBWLaloSNWjsnQ7N9bmIs3DonI8LnBvYysYKo1v/XE8=';
const PUB = 'd9M38U1u3ODNBifJnA00rowNzjkdTPbBOMTSFo9Ly2o=';
const PEER1 = 'Ujnz/jFilxv4j56/y4qYmeT9wXmj5MAhU+EQAi1FMlk=';
const PEER2 = '9baOCn9LWoP9GusTCEIF3dkkYAK6kfHqO7ePmZoGnjU=';
const PSK = 'GKMkDyAHjW5nkgxSMZn7GyZ21C00GZnsSCa/5MtYtVM=';

const row = (...f: string[]): string => f.join('\t');

t.test('a device with peers, secrets dropped', async (t) => {
  const text = [
    row(PRIV, PUB, '51999', '0x1234'),
    row(PEER1, '(none)', '[fd00::1]:7000', '10.2.0.1/32,fd00::2/128', '0', '0', '0', 'off'),
    row(PEER2, PSK, '10.9.9.9:6000', '(none)', '1763755000', '123456', '7890', '25'),
    '',
  ].join('\n');
  const dump = parseDump(text);
  t.same(dump, {
    publicKey: PUB,
    listenPort: 51999,
    fwmark: 0x1234,
    peers: [
      {
        publicKey: PEER1,
        hasPresharedKey: false,
        endpoint: '[fd00::1]:7000',
        allowedIps: ['10.2.0.1/32', 'fd00::2/128'],
        latestHandshake: null,
        rxBytes: 0,
        txBytes: 0,
        persistentKeepalive: null,
      },
      {
        publicKey: PEER2,
        hasPresharedKey: true,
        endpoint: '10.9.9.9:6000',
        allowedIps: [],
        latestHandshake: 1763755000,
        rxBytes: 123456,
        txBytes: 7890,
        persistentKeepalive: 25,
      },
    ],
  });
  for (const view of [JSON.stringify(dump), inspect(dump, { depth: 9 })]) {
    t.notMatch(view, PRIV, 'no private key');
    t.notMatch(view, PSK, 'no preshared key');
  }
});

t.test('a fresh device: no keys, fwmark off, no peers', async (t) => {
  t.same(parseDump('(none)\t(none)\t0\toff\n'), { publicKey: null, listenPort: 0, fwmark: null, peers: [] });
});

t.test('malformed dumps are WG_DUMP_INVALID and never echo the line', async (t) => {
  const good = row(PRIV, PUB, '1', 'off');
  const peer = (over: Partial<Record<number, string>>): string => {
    const f = [PEER1, '(none)', '(none)', '(none)', '0', '0', '0', 'off'];
    for (const [i, v] of Object.entries(over)) f[Number(i)] = v!;
    return good + '\n' + row(...f);
  };
  const cases: Array<[string, RegExp]> = [
    ['', /line 1: empty output/],
    ['\n\n', /line 1: empty output/],
    [row(PRIV, PUB, '1'), /line 1: want 4 tab-separated fields, got 3/],
    [row('x', PUB, '1', 'off'), /private key is not a key/],
    [row(PRIV, 'x', '1', 'off'), /public key is not a key/],
    [row(PRIV, PUB, 'abc', 'off'), /listen port is not a number/],
    [row(PRIV, PUB, '70000', 'off'), /listen port out of range/],
    [row(PRIV, PUB, '1', '0x1ffffffff'), /fwmark out of range/],
    [row(PRIV, PUB, '-1', 'off'), /listen port is not a number/],
    [good + '\n' + row(PEER1, '(none)'), /line 2: want 8 tab-separated fields, got 2/],
    [peer({ 0: 'nope' }), /line 2: peer public key is not a key/],
    [peer({ 1: 'nope' }), /preshared key is not a key/],
    [peer({ 2: '10.0.0.1' }), /bad endpoint/],
    [peer({ 2: '[fd00::1:7000' }), /bad endpoint/],
    [peer({ 3: '10.0.0.1/32,bogus' }), /bad allowed IP/],
    [peer({ 4: '1.5' }), /latest handshake is not a number/],
    [peer({ 5: '' }), /transfer-rx is not a number/],
    [peer({ 6: '99999999999999999999' }), /transfer-tx out of range/],
    [peer({ 7: '70000' }), /persistent keepalive out of range/],
  ];
  for (const [text, msg] of cases) {
    let err: unknown;
    try {
      parseDump(text);
    } catch (e) {
      err = e;
    }
    t.match(err, { code: 'WG_DUMP_INVALID', message: msg }, JSON.stringify(msg.source));
    t.notMatch((err as Error).message, PRIV);
  }
});
