/**
 * The clusters' Prometheus metrics (docs/clusters.md, "Metrics"), in the daemon's registry:
 * members by host and state and peer hosts' reachability, read from the membership document at
 * scrape time; connect_node requests and pass durations, counted as they happen. Labels are
 * cluster names, hosts and states only: never a cookie, never a node name.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { MEMBER_STATES, type MembershipDocument } from './membership-document.ts';
import type { ClusterObserver, ConnectOutcome } from './reconciler.ts';

const OUTCOMES: readonly ConnectOutcome[] = ['connected', 'failed'];
/** A pass is a few rpcs and HTTPS requests: milliseconds, up to a peer's 5 s deadline and more. */
const PASS_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** Registers the cluster metrics for `clusters` in `registry`; the reconcilers report to what it returns. */
export function registerClusterMetrics(
  registry: Registry,
  clusters: readonly string[],
  document: () => MembershipDocument,
): ClusterObserver {
  const registers = [registry];
  new Gauge({
    name: 'eid_cluster_members',
    help: "Cluster members by host and state: this host's as its daemon sees them, other hosts' as they report them (up)",
    labelNames: ['cluster', 'host', 'state'],
    registers,
    collect() {
      this.reset();
      const doc = document();
      for (const c of doc.clusters) {
        // Every state of this host from zero: a series that appears only with its first member breaks rate().
        for (const state of MEMBER_STATES)
          this.set(
            { cluster: c.name, host: doc.host, state },
            c.members.filter((m) => m.state === state).length,
          );
        for (const h of c.hosts)
          this.set({ cluster: c.name, host: h.host, state: 'up' }, h.reachable ? h.members.length : 0);
      }
    },
  });
  new Gauge({
    name: 'eid_cluster_peer_host_reachable',
    help: "1 when the other host's membership endpoint answered at the last pass",
    labelNames: ['cluster', 'host'],
    registers,
    collect() {
      this.reset();
      for (const c of document().clusters)
        for (const h of c.hosts) this.set({ cluster: c.name, host: h.host }, h.reachable ? 1 : 0);
    },
  });
  const connects = new Counter({
    name: 'eid_cluster_connects_total',
    help: 'net_kernel:connect_node/1 requests the daemon made of its members, by outcome',
    labelNames: ['cluster', 'outcome'],
    registers,
  });
  const passes = new Histogram({
    name: 'eid_cluster_reconcile_duration_seconds',
    help: 'Time one reconcile pass took',
    labelNames: ['cluster'],
    buckets: PASS_BUCKETS,
    registers,
  });
  for (const cluster of clusters) {
    for (const outcome of OUTCOMES) connects.inc({ cluster, outcome }, 0);
    passes.zero({ cluster });
  }
  return {
    connected: (cluster, outcome) => connects.inc({ cluster, outcome }),
    reconciled: (cluster, seconds) => passes.observe({ cluster }, seconds),
  };
}
