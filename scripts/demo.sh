#!/usr/bin/env bash
# `npm run demo`: on a fresh Debian machine, as root. Installs what is missing, builds two Docker
# hosts on this machine (scripts/hosts.sh), starts `eid daemon` on each, runs stock Erlang nodes in
# containers on both, shows them forming one cluster, then removes everything it made.
set -euo pipefail
cd "$(dirname "$0")/.."

[[ $(id -u) == 0 ]] || { echo "demo: run as root (it creates network namespaces and dockerd instances)" >&2; exit 1; }

NODES_PER_HOST=${EID_DEMO_NODES:-3}
COOKIE=eiddemo
export EID_SET=${EID_SET:-0}
HOSTS=scripts/hosts.sh
LOGS=$(mktemp -d /tmp/eid-demo.XXXX)
declare -a DAEMON_PIDS=()

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

cleanup() {
  say "Cleaning up"
  for pid in "${DAEMON_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${DAEMON_PIDS[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  done
  bash "$HOSTS" down
  echo "removed the hosts, their containers and daemons (daemon logs kept in $LOGS)"
}

say "Checking prerequisites"
declare -A PACKAGE_OF=([dockerd]=docker.io [docker]=docker.io [erl]=erlang-nox [ip]=iproute2 [iptables]=iptables [nsenter]=util-linux)
missing=()
for tool in "${!PACKAGE_OF[@]}"; do command -v "$tool" >/dev/null || missing+=("${PACKAGE_OF[$tool]}"); done
if ((${#missing[@]})); then
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
[[ -d node_modules/dockerode ]] || npm ci --no-audit --no-fund
echo "ok: $(dockerd --version), OTP $(erl -noshell -eval 'io:put_chars(erlang:system_info(otp_release)), halt().'), node $(node --version)"

trap cleanup EXIT
say "Creating two Docker hosts (network namespaces joined by a veth pair, one dockerd each)"
bash "$HOSTS" up
eval "$(bash "$HOSTS" env)"
bash "$HOSTS" image 1 otp25
bash "$HOSTS" image 2 otp25
echo "host 1: $EID_HOST1_IP (dockerd at $EID_HOST1_SOCKET)"
echo "host 2: $EID_HOST2_IP (dockerd at $EID_HOST2_SOCKET)"

say "Starting eid daemon on each host (EPMD port 4369 of that host)"
for n in 1 2; do
  socket_var=EID_HOST${n}_SOCKET
  bash "$HOSTS" exec "$n" node --import tsx --input-type=module \
    --eval "import { main } from '$PWD/src/cli/main.ts'; process.exitCode = await main(process.argv.slice(1));" \
    daemon --docker "unix://${!socket_var}" --log-level debug >"$LOGS/daemon$n.log" 2>&1 &
  DAEMON_PIDS+=($!)
done
for n in 1 2; do
  for _ in $(seq 1 100); do grep -q 'Docker catalog synced' "$LOGS/daemon$n.log" && break; sleep 0.2; done
  grep -q 'Docker catalog synced' "$LOGS/daemon$n.log" || { cat "$LOGS/daemon$n.log"; exit 1; }
  echo "host $n: $(grep -m1 'Docker catalog synced' "$LOGS/daemon$n.log" | cut -d' ' -f3-)"
done

say "Running $NODES_PER_HOST stock Erlang nodes in containers on each host"
declare -a NODES=() CONTAINERS=()
for n in 1 2; do
  ip_var=EID_HOST${n}_IP
  for _ in $(seq 1 "$NODES_PER_HOST"); do
    # What a user writes: node name = container hostname @ host address, fixed port published with -p.
    id=$(bash "$HOSTS" docker "$n" run -d -v /usr:/usr:ro -e "HOST_IP=${!ip_var}" -p 12345 eid-otp25 \
      sh -c "exec erl -noshell -name \"\$(hostname)@\$HOST_IP\" -setcookie $COOKIE -kernel inet_dist_listen_min 12345 inet_dist_listen_max 12345")
    NODES+=("${id:0:12}@${!ip_var}")
    CONTAINERS+=("$n:$id")
    echo "host $n: container ${id:0:12}, node ${id:0:12}@${!ip_var}, $(bash "$HOSTS" docker "$n" port "$id" 12345/tcp | head -1)"
  done
done
for entry in "${CONTAINERS[@]}"; do
  n=${entry%%:*} id=${entry#*:}
  for _ in $(seq 1 100); do bash "$HOSTS" docker "$n" exec "$id" epmd -names 2>/dev/null | grep -q "name ${id:0:12} " && break; sleep 0.2; done
done

say "Each node pings the next one, alternating hosts; the target host's daemon answers the lookup"
erl_list=$(printf "'%s'," "${NODES[@]}")
erl_list="[${erl_list%,}]"
first=${CONTAINERS[0]}
# A hidden helper node inside the first container drives the nodes with rpc (as an operator's shell would).
bash "$HOSTS" docker "${first%%:*}" exec "${first#*:}" erl -noshell -hidden -name "demo@$EID_HOST1_IP" -setcookie "$COOKIE" -eval "
  Nodes = $erl_list,
  Half = length(Nodes) div 2,
  Order = lists:append([[lists:nth(I, Nodes), lists:nth(I + Half, Nodes)] || I <- lists:seq(1, Half)]),
  Pairs = lists:zip(Order, tl(Order) ++ [hd(Order)]),
  lists:foreach(fun({From, To}) ->
      [Name, Host] = string:split(atom_to_list(To), \"@\"),
      {ok, Ip} = inet:parse_address(Host),
      Port = case rpc:call(From, erl_epmd, port_please, [Name, Ip]) of {port, P, _} -> P; Other -> Other end,
      Result = rpc:call(From, net_adm, ping, [To]),
      io:format(\"~s pinged ~s: daemon ~s:4369 answered port ~p -> ~p~n\", [From, To, Host, Port, Result])
    end, Pairs),
  timer:sleep(1000),
  io:format(\"~nnodes() on each node (the cluster is one full mesh):~n\"),
  lists:foreach(fun(N) ->
      Peers = lists:sort(rpc:call(N, erlang, nodes, [])),
      io:format(\"  ~s sees ~p nodes: ~s~n\", [N, length(Peers), lists:join(\" \", [atom_to_list(P) || P <- Peers])])
    end, Nodes),
  halt()."

say "A Node.js service joins: a TypeScript Erlang node in a container on host 2, named the same way"
ts_id=$(bash "$HOSTS" docker 2 run -d -v /usr:/usr:ro -v "$PWD:/eid:ro" -w /eid -e "HOST_IP=$EID_HOST2_IP" -p 12345 \
  eid-otp25 node --import tsx scripts/demo-node.ts "$COOKIE" "${NODES[@]}")
echo "host 2: container ${ts_id:0:12}, node ${ts_id:0:12}@$EID_HOST2_IP, $(bash "$HOSTS" docker 2 port "$ts_id" 12345/tcp | head -1)"
ts_status=$(bash "$HOSTS" docker 2 wait "$ts_id")
bash "$HOSTS" docker 2 logs "$ts_id" 2>&1
[[ $ts_status == 0 ]] || { echo "demo: the TypeScript node exited with status $ts_status" >&2; exit 1; }

say "What the daemons logged for those lookups"
for n in 1 2; do grep 'container lookup' "$LOGS/daemon$n.log" | sed "s/^/host $n: /" | tail -n "$((NODES_PER_HOST * 2))"; done
