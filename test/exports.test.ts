/**
 * The package's public surface, pinned: src/index.ts exports all and only these names. A change
 * here is a change of the public API and belongs in CHANGELOG.md.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import * as eid from '../src/index.ts';

/** Runtime values: classes, functions, constants. */
const VALUES = [
  'Atom',
  'BadRpcError',
  'BitString',
  'BytesError',
  'CallError',
  'CLUSTER_LABEL',
  'ClusterError',
  'DEFAULT_EPMD_PORT',
  'DEFAULT_FLAGS',
  'DEFAULT_MAX_DECOMPRESSED_SIZE',
  'DEFAULT_MAX_DEPTH',
  'DEFAULT_NODE_PORT',
  'Daemon',
  'DecodeError',
  'DistError',
  'DistFlags',
  'DockerCatalog',
  'DockerError',
  'DockerResolver',
  'EidError',
  'EncodeError',
  'EpmdError',
  'EpmdResolver',
  'EpmdServer',
  'ExportFun',
  'Float',
  'formatTerm',
  'Fun',
  'HandshakeError',
  'ImproperList',
  'IoRequestError',
  'IoServer',
  'LocalTerm',
  'MAX_ATOM_CHARACTERS',
  'MEMBERSHIP_VERSION',
  'NAME_LABEL',
  'Node',
  'PORT_LABEL',
  'PgScope',
  'Pid',
  'Port',
  'Process',
  'ProcessExit',
  'PubSub',
  'Reader',
  'ReceiveTimeout',
  'SendQueueFullError',
  'TermMismatchError',
  'Reference',
  'StaticResolver',
  'Tag',
  'Tuple',
  'Writer',
  'atom',
  'check',
  'compareTerms',
  'createLogger',
  'decode',
  'decodeFrom',
  'encode',
  'encodeInto',
  'epmdNames',
  'epmdPortPlease',
  'epmdRegister',
  'flagNames',
  'fromJS',
  'is',
  'isStringKeyed',
  'mapGet',
  'stringKeyed',
  'phash2',
  'termEquals',
  'toJS',
  'tuple',
  'TlsError',
  'readSslDistOptfile',
  'LiteralError',
];

/** Type-only exports: interfaces and type aliases. */
const TYPES = [
  'BytesErrorCode',
  'CatalogEntry',
  'ContainerAbout',
  'CatalogOptions',
  'CatalogStats',
  'CliErrorCode',
  'ClusterConfig',
  'ClusterErrorCode',
  'ClusterView',
  'ClustersConfig',
  'DaemonOptions',
  'DecodeOptions',
  'Destination',
  'DistErrorCode',
  'DockerErrorCode',
  'DockerResolverOptions',
  'EncodeOptions',
  'EpmdCallOptions',
  'EpmdErrorCode',
  'EpmdRegisterOptions',
  'EpmdServerOptions',
  'ErlMap',
  'ErrorCode',
  'ErrorContext',
  'EtfErrorCode',
  'ExposedFunction',
  'ExposedModule',
  'From',
  'IoServerOptions',
  'IoTerminal',
  'Guard',
  'Guarded',
  'GroupChange',
  'GroupListener',
  'LogFields',
  'LogFormat',
  'LogLevel',
  'LookupOutcome',
  'Logger',
  'LoggerOptions',
  'Member',
  'MemberState',
  'MembershipDocument',
  'MetricsSnapshot',
  'NameSource',
  'NodeAddress',
  'NodeEntry',
  'NodeEvents',
  'NodeOptions',
  'PeerHost',
  'HostContainer',
  'NodeStats',
  'PeerInventory',
  'RegisteredNodeInfo',
  'PubSubHandler',
  'PubSubOptions',
  'RegisteredNode',
  'Registration',
  'Resolver',
  'Term',
  'DistributionTlsOptions',
  'DistributionTlsSide',
  'PemSource',
  'TlsVersion',
  'TermsMode',
  'TupleOf',
];

const SRC = path.resolve(import.meta.dirname, '..', 'src');

test('the entry exports all and only the public values', () => {
  assert.deepEqual(Object.keys(eid).sort(), [...VALUES].sort());
});

test('the entry exports all and only the public types (as the compiler sees src/index.ts)', () => {
  const entry = path.join(SRC, 'index.ts');
  const options: ts.CompilerOptions = {
    allowImportingTsExtensions: true,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    noEmit: true,
    noLib: true,
    types: [],
  };
  // Names only: src/ alone says what the entry exports, so no lib, @types or package is read.
  const host = ts.createCompilerHost(options);
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (file) => file.startsWith(SRC) && fileExists(file);
  const program = ts.createProgram([entry], options, host);
  const checker = program.getTypeChecker();
  const module = checker.getSymbolAtLocation(program.getSourceFile(entry)!)!;
  const values: string[] = [];
  const types: string[] = [];
  for (const symbol of checker.getExportsOfModule(module)) {
    const target = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
    (target.flags & ts.SymbolFlags.Value ? values : types).push(symbol.name);
  }
  assert.deepEqual(values.sort(), [...VALUES].sort());
  assert.deepEqual(types.sort(), [...TYPES].sort());
});

/** Names of the classes in src/ that extend Error, directly or through another such class. */
function errorClasses(): string[] {
  const parents = new Map<string, string>();
  const files = readdirSync(SRC, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'));
  for (const file of files) {
    for (const m of readFileSync(path.join(SRC, file), 'utf8').matchAll(/\bclass (\w+) extends (\w+)/g)) {
      parents.set(m[1]!, m[2]!);
    }
  }
  const isError = (name: string): boolean => {
    const parent = parents.get(name);
    return parent === 'Error' || (parent !== undefined && isError(parent));
  };
  return [...parents.keys()].filter(isError).sort();
}

test('every error class in src/ is exported and extends EidError', () => {
  const classes = errorClasses();
  assert.ok(classes.length >= 12, classes.join(', '));
  for (const name of classes) {
    const exported = (eid as Record<string, unknown>)[name];
    assert.equal(typeof exported, 'function', `${name} is not exported`);
    const proto = (exported as { prototype: object }).prototype;
    assert.ok(name === 'EidError' || proto instanceof eid.EidError, `${name} does not extend EidError`);
  }
});
