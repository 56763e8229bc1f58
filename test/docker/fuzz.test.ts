/**
 * Fuzzing what parses Docker's output: the /events line splitter (any split, giant lines against
 * the cap), event lines (random and mutated), inspect replies through the one parser the catalog
 * and DockerResolver share (src/docker/inspect.ts), and the name and ID validators. Only DockerError may escape, and no case may hang.
 * Deterministic: DOCKER_FUZZ_SEED=<n> replays another seed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DockerError } from '../../src/errors.ts';
import { isContainerId, LineSplitter, MAX_EVENT_LINE, parseEvent } from '../../src/docker/events.ts';
import { ContainerTable } from '../../src/docker/catalog.ts';
import {
  entryFromInspect,
  isRunning,
  isValidLookupName,
  NAME_LABEL,
  PORT_LABEL,
  publishedNodePort,
  type CatalogEntry,
  type InspectReply,
} from '../../src/docker/inspect.ts';
import { chunksOf, fuzzing } from '../fuzz.ts';

const { runs, guarded } = fuzzing('DOCKER_FUZZ_SEED', 0xd0c4e2, DockerError);

const hexId = fc.stringMatching(/^[0-9a-f]{64}$/);
const NEWLINE = 0x0a;

function eventLine(type: string, action: string, id: string): string {
  return JSON.stringify({
    status: action,
    id,
    Type: type,
    Action: action,
    Actor: { ID: id, Attributes: { container: id, name: 'web', image: 'img' } },
    scope: 'local',
    time: 1,
    timeNano: 1,
  });
}

/** Byte-level mutations of a valid line: flips, cuts, insertions (newlines included), deletions. */
function mutateText(line: string, edits: readonly [number, number, number][]): Buffer {
  let out = Buffer.from(line);
  for (const [kind, position, value] of edits) {
    const at = position % (out.length + 1);
    if (kind === 0 && at < out.length) out[at] = value;
    else if (kind === 1) out = out.subarray(0, at);
    else if (kind === 2) out = Buffer.concat([out.subarray(0, at), Buffer.of(value), out.subarray(at)]);
    else out = Buffer.concat([out.subarray(0, at), out.subarray(at + 1)]);
  }
  return out;
}

const editsArb = fc.array(fc.tuple(fc.nat(3), fc.nat(), fc.nat(255)), { maxLength: 4 });

/** Valid event lines, mutated ones and random bytes, as one stream. */
const streamPartArb = fc.oneof(
  fc
    .tuple(
      fc.constantFrom('container', 'network', 'image'),
      fc.constantFrom('start', 'die', 'connect'),
      hexId,
    )
    .map(([type, action, id]) => Buffer.from(`${eventLine(type, action, id)}\n`)),
  fc
    .tuple(fc.constantFrom('container', 'network'), hexId, editsArb)
    .map(([type, id, edits]) =>
      Buffer.concat([mutateText(eventLine(type, 'start', id), edits), Buffer.of(NEWLINE)]),
    ),
  fc.uint8Array({ maxLength: 80 }).map((b) => Buffer.from(b)),
  fc.constant(Buffer.of(NEWLINE)),
);

/**
 * What the splitter must do with `stream` under `maxLine`: the complete lines, and the offset of
 * the first byte that makes a line longer than the cap (where it must refuse, at the latest).
 */
function reference(
  stream: Buffer,
  maxLine: number,
): { lines: { text: string; end: number }[]; overAt: number } {
  const lines: { text: string; end: number }[] = [];
  let start = 0;
  for (let i = 0; i < stream.length; i++) {
    if (stream[i] === NEWLINE) {
      lines.push({ text: stream.subarray(start, i).toString('utf8'), end: i });
      start = i + 1;
    } else if (i - start + 1 > maxLine) {
      return { lines, overAt: i };
    }
  }
  return { lines, overAt: -1 };
}

test('event lines: any split gives the whole lines; a line over the cap is refused in the chunk that crosses it', () => {
  let refused = 0;
  fc.assert(
    fc.property(
      fc.array(streamPartArb, { maxLength: 10 }),
      fc.array(fc.nat(), { maxLength: 12 }),
      fc.oneof(fc.integer({ min: 0, max: 400 }), fc.constant(MAX_EVENT_LINE)),
      (parts, cuts, maxLine) => {
        const stream = Buffer.concat(parts);
        const expected = reference(stream, maxLine);
        const splitter = new LineSplitter(maxLine);
        const got: string[] = [];
        let offset = 0;
        for (const chunk of chunksOf(stream, cuts)) {
          const out = guarded('push', () => splitter.push(chunk));
          const chunkEnd = offset + chunk.length;
          if (out instanceof DockerError) {
            assert.equal(out.code, 'DOCKER_EVENT_TOO_LONG');
            // Refused in the chunk holding the first byte over the cap: never later (nothing more
            // was buffered), never earlier (nothing short was refused).
            assert.ok(
              expected.overAt >= offset && expected.overAt < chunkEnd,
              `refused at ${offset}..${chunkEnd}`,
            );
            refused++;
            return;
          }
          got.push(...out);
          // Lines end by this chunk, and none of them crossed the cap.
          assert.ok(expected.overAt === -1 || expected.overAt >= chunkEnd);
          assert.deepEqual(
            got,
            expected.lines.filter((l) => l.end < chunkEnd).map((l) => l.text),
          );
          offset = chunkEnd;
        }
        assert.equal(expected.overAt, -1, 'a line over the cap was accepted');
        for (const line of got) {
          const event = guarded('parseEvent', () => parseEvent(line));
          assert.ok(!(event instanceof DockerError));
        }
      },
    ),
    runs(5_000),
  );
  assert.ok(refused > 0);
});

test('event lines: a line of exactly the cap passes and one byte more is refused, in 64 KiB chunks', () => {
  for (const extra of [0, 1]) {
    const line = Buffer.concat([Buffer.alloc(MAX_EVENT_LINE + extra, 0x20), Buffer.of(NEWLINE)]);
    const splitter = new LineSplitter();
    const result = guarded('giant line', () => {
      const lines: string[] = [];
      for (let at = 0; at < line.length; at += 64 * 1024)
        lines.push(...splitter.push(line.subarray(at, at + 64 * 1024)));
      return lines;
    });
    if (extra === 0)
      assert.deepEqual(result instanceof DockerError ? result : result.map((l) => l.length), [
        MAX_EVENT_LINE,
      ]);
    else assert.ok(result instanceof DockerError && result.code === 'DOCKER_EVENT_TOO_LONG');
  }
});

/** JSON values of every kind, for any field of an event or an inspect reply. */
const anyJson = fc.jsonValue({ maxDepth: 3 });

function checkEvent(event: ReturnType<typeof parseEvent>): void {
  if (event === undefined) return;
  assert.ok(event.type === 'container' || event.type === 'network');
  assert.equal(typeof event.action, 'string');
  assert.ok(event.containerId === undefined || isContainerId(event.containerId));
}

test('event lines: random text, random JSON and events with fields of any type parse to an event or nothing', () => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.string({ unit: 'binary', maxLength: 200 }),
        anyJson.map((v) => JSON.stringify(v)),
        fc
          .record({
            Type: fc.oneof(fc.constantFrom('container', 'network'), anyJson),
            Action: fc.oneof(fc.constantFrom('start', 'die'), anyJson),
            Actor: fc.oneof(
              anyJson,
              fc.record({
                ID: fc.oneof(hexId, anyJson, fc.constantFrom('../../images/json?', `${'a'.repeat(64)}\n`)),
                Attributes: fc.oneof(anyJson, fc.record({ container: fc.oneof(hexId, anyJson) })),
              }),
            ),
          })
          .map((e) => JSON.stringify(e)),
        fc
          .tuple(fc.constantFrom('container', 'network'), hexId, editsArb)
          .map(([type, id, edits]) => mutateText(eventLine(type, 'start', id), edits).toString('utf8')),
      ),
      (line) => {
        const event = guarded('parseEvent', () => parseEvent(line));
        assert.ok(!(event instanceof DockerError));
        checkEvent(event);
      },
    ),
    runs(10_000),
  );
});

// Inspect replies ---------------------------------------------------------------------------

const DEFAULT_NODE_PORT = 12345;

/** Mostly `valid`, sometimes any JSON value instead. */
const orAny = <T>(valid: fc.Arbitrary<T>): fc.Arbitrary<unknown> =>
  fc.oneof({ weight: 8, arbitrary: valid }, anyJson);

const bindingArb = orAny(
  fc.record({
    HostIp: orAny(fc.constantFrom('', '0.0.0.0', '::', '127.0.0.1', '10.0.0.5')),
    HostPort: orAny(fc.constantFrom('32768', '0', '70000', 'x', '')),
  }),
);

/** An inspect reply shaped like Docker's, each field sometimes replaced by any JSON value. */
const inspectArb = fc
  .record({
    Id: orAny(hexId),
    Name: orAny(fc.constantFrom('/web', '/a..b', 'web', '/a/b')),
    State: orAny(fc.record({ Running: orAny(fc.constant(true)), Paused: orAny(fc.boolean()) })),
    Config: orAny(
      fc.record({
        Hostname: orAny(fc.constantFrom('web', 'abcdef012345', '')),
        Labels: orAny(
          fc.dictionary(
            fc.constantFrom(PORT_LABEL, NAME_LABEL, 'other'),
            orAny(fc.constantFrom('9000', '12345', 'api', 'a/b', '0', '65536', '')),
          ),
        ),
      }),
    ),
    NetworkSettings: orAny(
      fc.record({
        Ports: orAny(
          fc.record(
            {
              [`${DEFAULT_NODE_PORT}/tcp`]: orAny(
                fc.oneof(fc.array(bindingArb, { maxLength: 3 }), fc.constant(null)),
              ),
              '9000/tcp': orAny(fc.array(bindingArb, { maxLength: 3 })),
              '12345/udp': orAny(fc.array(bindingArb, { maxLength: 3 })),
            },
            { requiredKeys: [] },
          ),
        ),
      }),
    ),
  })
  .map((info) => info as InspectReply);

const isPort = (n: unknown) => typeof n === 'number' && Number.isInteger(n) && n > 0 && n <= 65535;

function checkEntry(entry: CatalogEntry): void {
  assert.ok(isContainerId(entry.id), 'entry id is a container ID');
  assert.equal(typeof entry.name, 'string');
  assert.equal(typeof entry.hostname, 'string');
  assert.ok(
    entry.labelName === undefined ||
      (typeof entry.labelName === 'string' && isValidLookupName(entry.labelName)),
  );
  assert.ok(isPort(entry.nodePort) && isPort(entry.hostPort), `ports ${entry.nodePort} ${entry.hostPort}`);
}

test('inspect replies with fields of any type give a well-formed entry or none, never an exception', () => {
  let entries = 0;
  fc.assert(
    fc.property(inspectArb, (info) => {
      const entry = guarded('entryFromInspect', () =>
        entryFromInspect(info, DEFAULT_NODE_PORT, ['10.0.0.5']),
      );
      assert.ok(!(entry instanceof DockerError));
      if (entry === undefined) return;
      entries++;
      checkEntry(entry);
      const table = new ContainerTable();
      table.set(entry);
      assert.equal(table.find(entry.id), entry);
    }),
    runs(10_000),
  );
  assert.ok(entries > 40, `only ${entries} entries`);
});

test('any JSON as an inspect reply (what DockerResolver parses) gives a published port or none, as the catalog reads it', () => {
  let published = 0;
  fc.assert(
    fc.property(fc.oneof({ weight: 4, arbitrary: inspectArb }, anyJson), (json) => {
      const info = json as InspectReply | null;
      const found = guarded('publishedNodePort', () =>
        publishedNodePort(info, DEFAULT_NODE_PORT, ['10.0.0.5']),
      );
      assert.ok(!(found instanceof DockerError));
      if (found !== undefined) {
        published++;
        assert.ok(
          isPort(found.nodePort) && isPort(found.hostPort),
          `ports ${found.nodePort} ${found.hostPort}`,
        );
      }
      // Where the catalog makes an entry, it holds the very ports the resolver reads.
      const entry = guarded('entryFromInspect', () =>
        entryFromInspect(info, DEFAULT_NODE_PORT, ['10.0.0.5']),
      );
      assert.ok(!(entry instanceof DockerError));
      if (entry !== undefined)
        assert.deepEqual(found, { nodePort: entry.nodePort, hostPort: entry.hostPort });
      // The two share one rule for which containers are served at all.
      if (!isRunning(info)) assert.equal(entry, undefined);
    }),
    runs(10_000),
  );
  assert.ok(published > 40, `only ${published} published ports`);
});

// Names and IDs -----------------------------------------------------------------------------

/** Characters a lookup name may hold: what Docker allows in container names (and hostnames, IDs, labels use). */
const NAME_CHARS = /^[A-Za-z0-9_.-]*$/;

test('lookup names: whatever passes is 1-255 name characters starting with a letter or digit; Docker names and IDs pass', () => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.string({ unit: 'binary', maxLength: 300 }),
        fc.string({ unit: fc.constantFrom(...'aZ09_.-/?#%@: \t\n\r\0\u007f\u00e9'), maxLength: 20 }),
        fc.stringMatching(/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,254}$/).map((s) => `${s}\n`),
      ),
      (name) => {
        const valid = guarded('isValidLookupName', () => isValidLookupName(name));
        if (valid !== true) return;
        assert.ok(name.length >= 1 && name.length <= 255);
        assert.match(name, NAME_CHARS);
        assert.match(name, /^[A-Za-z0-9]/);
        // So never a path or query separator, an escape, whitespace or a control character.
        assert.ok(!/[/?#%\\\s\p{Cc}]/u.test(name));
      },
    ),
    runs(10_000),
  );
  fc.assert(
    fc.property(fc.oneof(fc.stringMatching(/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,254}$/), hexId), (name) =>
      assert.ok(isValidLookupName(name), name),
    ),
    runs(2_000),
  );
});

test('container IDs: only 64 lowercase hex digits pass, whatever else is around them', () => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.string({ unit: 'binary', maxLength: 80 }),
        hexId.map((id) => `${id}\n`),
        hexId.map((id) => id.toUpperCase()),
        fc
          .tuple(hexId, fc.nat(63), fc.string({ unit: 'binary', minLength: 1, maxLength: 2 }))
          .map(([id, at, s]) => id.slice(0, at) + s + id.slice(at + 1)),
        anyJson,
      ),
      (value) => {
        const valid = isContainerId(value);
        assert.equal(valid, typeof value === 'string' && /^[0-9a-f]{64}$/.test(value) && value.length === 64);
      },
    ),
    runs(10_000),
  );
});

test('catalog lookups of random names never throw and find only what the validator lets through', () => {
  const table = new ContainerTable();
  const id = 'abcdef'.repeat(10) + '0123';
  table.set({ id, name: 'web', hostname: 'web-host', labelName: 'api', nodePort: 12345, hostPort: 32768 });
  fc.assert(
    fc.property(
      fc.oneof(fc.string({ unit: 'binary', maxLength: 100 }), fc.constantFrom('web', 'abcdef', id, 'api')),
      (name) => {
        const found = guarded('find', () => table.find(name));
        assert.ok(!(found instanceof DockerError));
        if (found !== undefined) assert.ok(isValidLookupName(name));
      },
    ),
    runs(5_000),
  );
});

test('inspect replies: bindings that are not a list of objects, and non-string ports, hostnames and labels, are read as absent', () => {
  const id = 'f'.repeat(64);
  const info = (config: unknown, ports: unknown) =>
    ({
      Id: id,
      Name: '/web',
      State: { Running: true, Paused: false },
      Config: config,
      NetworkSettings: { Ports: ports },
    }) as InspectReply;
  const good = [{ HostIp: '0.0.0.0', HostPort: '32768' }];
  for (const published of [{ HostPort: '32768' }, 'x', 5, [null, 7, 'x']]) {
    assert.equal(entryFromInspect(info({}, { '12345/tcp': published }), 12345, []), undefined);
  }
  assert.equal(entryFromInspect(info({}, { '12345/tcp': [null, ...good] }), 12345, [])?.hostPort, 32768);
  assert.equal(
    entryFromInspect(info({}, { '12345/tcp': [{ HostIp: '', HostPort: true }] }), 12345, []),
    undefined,
  );
  const odd = entryFromInspect(
    info({ Hostname: 42, Labels: { [NAME_LABEL]: 7 } }, { '12345/tcp': good }),
    12345,
    [],
  );
  assert.equal(odd?.hostname, id.slice(0, 12));
  assert.equal(odd?.labelName, undefined);
  assert.equal(
    entryFromInspect(info({ Labels: { [PORT_LABEL]: [12345] } }, { '12345/tcp': good }), 12345, []),
    undefined,
  );
});
