/** The daemon: an EPMD server for one Docker host that also answers for its containers. */
export { Daemon, type DaemonOptions } from './daemon.ts';
export type { MetricsSnapshot } from './metrics.ts';
export type { ClustersConfig, ClusterConfig } from './cluster-config.ts';
export {
  MEMBERSHIP_VERSION,
  type MembershipDocument,
  type ClusterView,
  type Member,
  type MemberState,
  type PeerHost,
  type HostContainer,
  type NodeStats,
  type PeerInventory,
  type RegisteredNodeInfo,
} from './membership-document.ts';
