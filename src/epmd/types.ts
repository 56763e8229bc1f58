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
  lookup(name: string): NodeEntry | undefined;
  /** Names and ports to add to a NAMES reply. */
  names(): Iterable<{ name: string; port: number }>;
}
