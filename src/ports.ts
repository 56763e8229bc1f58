/** TCP port numbers as every layer checks them (no imports: usable from the bottom layer up). */

/** The highest TCP port. */
export const MAX_PORT = 65535;

/** Whether `n` is a port a peer can be reached on: an integer in 1..65535. */
export function isPort(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && n <= MAX_PORT;
}

/** `text` as a port when it is decimal digits only and {@link isPort}; else undefined. */
export function parsePort(text: string): number | undefined {
  const n = Number(text);
  return /^\d+$/.test(text) && isPort(n) ? n : undefined;
}

/** The container port Erlang nodes listen on, which `eid daemon` and `ContainerID@HostIP` look up. */
export const DEFAULT_NODE_PORT = 12345;

/**
 * The node port named by the environment: `EID_NODE_PORT`, or its documented alias
 * `EID_ERLANG_PORT` (the original design's spelling). Undefined when neither is a valid port.
 */
export function nodePortFromEnv(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const raw = env['EID_NODE_PORT'] ?? env['EID_ERLANG_PORT'];
  return raw === undefined ? undefined : parsePort(raw);
}

/** `text` as a port to listen on: 0 (any free port, the OS picks one) or a {@link parsePort} port. */
export function parseListenPort(text: string): number | undefined {
  return /^0+$/.test(text) ? 0 : parsePort(text);
}
