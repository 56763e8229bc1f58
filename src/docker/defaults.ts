/**
 * Defaults shared with layers that must not load dockerode (the distribution's resolver): this
 * module imports nothing.
 */

/** The container port Erlang nodes listen on, which `eid daemon` and `ContainerID@HostIP` look up. */
export const DEFAULT_NODE_PORT = 12345;
