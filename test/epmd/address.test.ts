/** epmd's address rules without sockets: local peers, loopback, listen addresses, peers in logs. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  addressGroup,
  isLocalPeer,
  isLoopback,
  listenSpecs,
  peerText,
  unmapped,
} from '../../src/epmd/address.ts';
import { EpmdError } from '../../src/errors.ts';

test('isLocalPeer: loopback and same-address peers only (as epmd decides who may register)', () => {
  assert.ok(isLocalPeer('127.0.0.1', '127.0.0.1'));
  assert.ok(isLocalPeer('127.1.2.3', '192.0.2.2'));
  assert.ok(isLocalPeer('::ffff:127.0.0.1', '::ffff:127.0.0.1'));
  assert.ok(isLocalPeer('::1', '::1'));
  assert.ok(isLocalPeer('192.0.2.2', '192.0.2.2'));
  assert.ok(isLocalPeer('::ffff:192.0.2.2', '192.0.2.2'));
  assert.ok(!isLocalPeer('192.0.2.3', '192.0.2.2'));
  assert.ok(!isLocalPeer('fd00::3', 'fd00::2'));
  assert.ok(!isLocalPeer(undefined, '127.0.0.1'));
});

test('isLocalPeer: IPv6 and IPv4-mapped peers', () => {
  // The same IPv6 address the connection came in on is local; another one on the same net is not.
  assert.ok(isLocalPeer('fd00::2', 'fd00::2'));
  // An IPv4 peer on a dual-stack listener: mapped on either side, compared unmapped.
  assert.ok(isLocalPeer('192.0.2.2', '::ffff:192.0.2.2'));
  assert.ok(isLocalPeer('::ffff:127.255.255.254', undefined));
  assert.ok(!isLocalPeer('::ffff:192.0.2.3', '::ffff:192.0.2.2'));
  // Only 127.0.0.0/8 and ::1 are loopback: not 128.x, not a hostname spelled 127.x, not ::2.
  assert.ok(!isLocalPeer('128.0.0.1', undefined));
  assert.ok(!isLocalPeer('127.example', undefined));
  assert.ok(!isLocalPeer('::2', undefined));
  assert.ok(!isLocalPeer('::ffff:10.0.0.1', undefined));
  // Without a local address, only loopback counts.
  assert.ok(!isLocalPeer('192.0.2.2', undefined));
});

test('isLoopback: 127.0.0.0/8 and ::1, mapped or not', () => {
  for (const a of ['127.0.0.1', '127.0.1.1', '::1', '::ffff:127.0.0.1']) assert.ok(isLoopback(a), a);
  for (const a of ['0.0.0.0', '::', '10.0.0.1', '::ffff:10.0.0.1', 'fe80::1', 'localhost'])
    assert.ok(!isLoopback(a), a);
});

test('unmapped: only the ::ffff: prefix of an IPv4-mapped address goes', () => {
  assert.equal(unmapped('::ffff:10.0.0.1'), '10.0.0.1');
  assert.equal(unmapped('10.0.0.1'), '10.0.0.1');
  assert.equal(unmapped('::1'), '::1');
  assert.equal(unmapped('fd00::ffff:1'), 'fd00::ffff:1');
});

test('listenSpecs: every interface by default; a given list gets loopback added once, like epmd', () => {
  const all = [
    { host: '0.0.0.0', optional: false },
    { host: '::', optional: true },
  ];
  assert.deepEqual(listenSpecs(undefined), all);
  assert.deepEqual(listenSpecs([]), all);
  assert.deepEqual(listenSpecs(['10.0.0.5', 'fd00::5']), [
    { host: '127.0.0.1', optional: true },
    { host: '::1', optional: true },
    { host: '10.0.0.5', optional: false },
    { host: 'fd00::5', optional: false },
  ]);
  // Loopback addresses in the list are not bound twice (127.0.0.2 is loopback too).
  assert.deepEqual(listenSpecs(['127.0.0.1', '::1', '127.0.0.2']), [
    { host: '127.0.0.1', optional: true },
    { host: '::1', optional: true },
  ]);
});

test('listenSpecs: a name or garbage in the list is EPMD_CONFIG, as epmd refuses to start', () => {
  for (const bad of ['localhost', '10.0.0.256', '', 'fd00::5::6']) {
    assert.throws(
      () => listenSpecs(['10.0.0.5', bad]),
      (e: unknown) => e instanceof EpmdError && e.code === 'EPMD_CONFIG',
      bad,
    );
  }
});

test('peerText: host:port, [v6]:port, and unknown without an address', () => {
  assert.equal(peerText('10.0.0.1', 4369), '10.0.0.1:4369');
  assert.equal(peerText('::1', 4369), '[::1]:4369');
  assert.equal(peerText('::ffff:10.0.0.1', 5), '[::ffff:10.0.0.1]:5');
  assert.equal(peerText(undefined, 5), 'unknown');
});

test('addressGroup: an IPv4 address is its own group; IPv6 is grouped by /64, however it is spelled', () => {
  assert.equal(addressGroup('192.0.2.7'), '192.0.2.7');
  assert.equal(addressGroup('::ffff:192.0.2.7'), '192.0.2.7');
  assert.notEqual(addressGroup('127.0.0.1'), addressGroup('127.0.0.2'));
  const group = '2001:db8:0:1::/64';
  for (const a of [
    '2001:db8:0:1::1',
    '2001:db8::1:0:0:0:2',
    '2001:0db8:0000:0001:ffff:ffff:ffff:ffff',
    '2001:db8:0:1:a:b:1.2.3.4',
    '2001:db8:0:1::9%eth0',
  ])
    assert.equal(addressGroup(a), group, a);
  assert.equal(addressGroup('2001:db8:0:2::1'), '2001:db8:0:2::/64');
  assert.equal(addressGroup('::1'), '0:0:0:0::/64');
  assert.equal(addressGroup('fe80::1%eth0'), 'fe80:0:0:0::/64');
  assert.equal(addressGroup('64:ff9b::192.0.2.7'), '64:ff9b:0:0::/64');
  assert.equal(addressGroup(undefined), 'unknown');
});
