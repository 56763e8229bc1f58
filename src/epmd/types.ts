/** What EPMD knows of one node: the fields of a PORT2_RESP. */
export interface NodeEntry {
  name: string;
  port: number;
  /** 77 ('M') for a normal node, 72 ('H') for a hidden one. */
  nodeType: number;
  /** 0 for TCP/IPv4. */
  protocol: number;
  highestVersion: number;
  lowestVersion: number;
  extra: Uint8Array;
}

/**
 * The server's extension point for names that are not registered locally (the daemon plugs
 * the Docker catalog in here). Both calls are synchronous: a lookup never waits on I/O.
 */
export interface NameSource {
  /** `local`: the server's own address of the connection the lookup came in on, when known. */
  lookup(name: string, local?: string): NodeEntry | undefined;
  /** Names and ports to add to a NAMES reply. */
  names(): Iterable<{ name: string; port: number }>;
  /** True when the source answers to `name`: a local registration of it is refused, as for a taken name. */
  claims?(name: string): boolean;
}
