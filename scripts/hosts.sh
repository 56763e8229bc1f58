#!/usr/bin/env bash
# Two Docker hosts on one machine: two network namespaces joined by a veth pair, one dockerd in each.
#
#   scripts/hosts.sh up                 create both hosts (tears down leftovers of a crashed run first)
#   scripts/hosts.sh down [--force]     remove everything `up` created; safe to run any number of times
#   scripts/hosts.sh exec N CMD...      run CMD in host N's network namespace
#   scripts/hosts.sh docker N ARGS...   the docker CLI against host N's dockerd
#   scripts/hosts.sh stop-docker N      stop host N's dockerd (start-docker N starts it again)
#   scripts/hosts.sh image N KIND       import test image eid-KIND (otp25, otp27, otp29, node) into host N
#   scripts/hosts.sh rootfs KIND        build (once) and print the cached rootfs tarball of eid-KIND
#   scripts/hosts.sh env                print the host addresses and sockets as shell variables
#
# EID_SET (0-29, default 0) picks an independent set of names and subnets, so two test files can
# each have their own pair of hosts at the same time; `up` refuses a set another live process
# (EID_OWNER_PID, else the caller) brought up. EID_DOCKERD_EXTRA_ARGS (word-split) is added to
# both dockerd command lines (a TCP+TLS listener, say). Must run as root.
set -euo pipefail

SET=${EID_SET:-0}
[[ $SET =~ ^([0-9]|[12][0-9])$ ]] || { echo "hosts.sh: EID_SET must be 0-29" >&2; exit 2; }
CACHE=${EID_CACHE:-/var/cache/eid}
STATE=/var/lib/eid/hosts
RUNDIR=/run/eid
# debootstrap uses the Debian mirror this machine's apt is set up with (deb822 or one-line sources).
apt_mirror() {
  local uri
  uri=$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\).*/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null |
    grep -v -- '-security' | head -n 1)
  [[ -n $uri ]] || uri=$(awk '$1 == "deb" && $0 !~ /-security/ { print $2; exit }' /etc/apt/sources.list 2>/dev/null)
  echo "$uri"
}
MIRROR=${EID_DEBIAN_MIRROR:-$(apt_mirror)}

netns() { echo "eid${SET}h$1"; }
veth() { echo "eid${SET}v$1"; }
host_ip() { echo "10.213.${SET}.$1"; }
bridge_cidr() { echo "172.31.$((SET * 2 + $1)).1/24"; }
run_dir() { echo "$RUNDIR/${SET}h$1"; }
data_dir() { echo "$STATE/${SET}h$1"; }
socket() { echo "$(run_dir "$1")/docker.sock"; }
# Containers go under their own cgroup parent, so a crashed run's containers can be found and stopped.
cgroup_parent() { echo "eid-${SET}h$1"; }

host_docker() {
  local n=$1
  shift
  docker -H "unix://$(socket "$n")" "$@"
}

# wait_up WHAT PID LOG TRIES INTERVAL CHECK...: runs CHECK every INTERVAL seconds, TRIES times at
# most, until it succeeds; gives up early when process PID is gone, and then shows the end of LOG.
wait_up() {
  local what=$1 pid=$2 log=$3 tries=$4 interval=$5
  shift 5
  for _ in $(seq 1 "$tries"); do
    "$@" && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep "$interval"
  done
  echo "hosts.sh: $what did not come up; log: $log" >&2
  tail -20 "$log" >&2 || true
  return 1
}

# wait_gone PID TRIES INTERVAL: waits for process PID to exit; fails if it still runs after that.
wait_gone() {
  local pid=$1 tries=$2 interval=$3
  for _ in $(seq 1 "$tries"); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep "$interval"
  done
  ! kill -0 "$pid" 2>/dev/null
}

docker_answers() { host_docker "$1" version >/dev/null 2>&1; }

wait_for_socket() {
  local n=$1
  wait_up "dockerd of host $n" "$(cat "$(run_dir "$n")/launcher.pid")" "$(run_dir "$n")/dockerd.log" 150 0.2 \
    docker_answers "$n"
}

# Each host gets its own containerd, started here and named to dockerd with --containerd: dockerd
# 20.10 would otherwise share a system containerd whenever /run/containerd/containerd.sock exists.
start_containerd() {
  local n=$1 rd dd
  rd=$(run_dir "$n")
  dd=$(data_dir "$n")
  mkdir -p "$rd/containerd" "$dd/containerd"
  cat >"$rd/containerd.toml" <<EOF
version = 2
root = "$dd/containerd/root"
state = "$rd/containerd/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$rd/containerd/containerd.sock"
[ttrpc]
  address = "$rd/containerd/containerd.sock.ttrpc"
[debug]
  address = "$rd/containerd/debug.sock"
EOF
  # nsenter and setsid both exec (a background job is no group leader): $! is containerd's pid.
  nsenter --net="/run/netns/$(netns "$n")" setsid containerd --config "$rd/containerd.toml" --log-level warn \
    >"$rd/containerd.log" 2>&1 </dev/null &
  echo $! >"$rd/containerd.pid"
  wait_up "containerd of host $n" "$(cat "$rd/containerd.pid")" "$rd/containerd.log" 100 0.1 \
    test -S "$rd/containerd/containerd.sock"
}

start_dockerd() {
  local n=$1 rd dd
  rd=$(run_dir "$n")
  dd=$(data_dir "$n")
  mkdir -p "$rd" "$dd"
  nsenter --net="/run/netns/$(netns "$n")" setsid dockerd \
    --data-root "$dd/data" --exec-root "$rd/exec" --pidfile "$rd/dockerd.pid" \
    --containerd "$rd/containerd/containerd.sock" \
    -H "unix://$(socket "$n")" --bip "$(bridge_cidr "$n")" --iptables=true \
    --cgroup-parent "$(cgroup_parent "$n")" --live-restore --log-level warn \
    ${EID_DOCKERD_EXTRA_ARGS:-} >"$rd/dockerd.log" 2>&1 </dev/null &
  echo $! >"$rd/launcher.pid"
}

# Whoever brought a set up (a test process, the demo, a shell) owns it until `down`.
owner_file() { echo "$RUNDIR/${SET}.owner"; }

# Fails when another live process owns the set. Leftovers of a crashed run (owner gone) are fair game.
check_owner() {
  local owner
  owner=$(cat "$(owner_file)" 2>/dev/null || true)
  if [[ -n $owner && $owner != "${EID_OWNER_PID:-$PPID}" ]] && kill -0 "$owner" 2>/dev/null; then
    echo "hosts.sh: set $SET is in use by pid $owner; choose another EID_SET, or \`down --force\`" >&2
    return 1
  fi
}

up() {
  check_owner
  down
  mkdir -p "$RUNDIR"
  echo "${EID_OWNER_PID:-$PPID}" >"$(owner_file)"
  ip netns add "$(netns 1)"
  ip netns add "$(netns 2)"
  ip link add "$(veth 1)" type veth peer name "$(veth 2)"
  for n in 1 2; do
    ip link set "$(veth "$n")" netns "$(netns "$n")"
    ip -n "$(netns "$n")" addr add "$(host_ip "$n")/24" dev "$(veth "$n")"
    ip -n "$(netns "$n")" link set lo up
    ip -n "$(netns "$n")" link set "$(veth "$n")" up
  done
  start_containerd 1
  start_containerd 2
  start_dockerd 1
  start_dockerd 2
  wait_for_socket 1
  wait_for_socket 2
}

# Stops one host's dockerd by pid. Its containers keep running (--live-restore, as production hosts
# often run) and it finds them again when start-docker starts it with the same state.
stop_docker() {
  local n=$1 pid
  pid=$(cat "$(run_dir "$n")/dockerd.pid")
  kill -TERM "$pid"
  wait_gone "$pid" 150 0.2 || { echo "hosts.sh: dockerd $pid did not stop" >&2; return 1; }
}

start_docker() {
  start_dockerd "$1"
  wait_for_socket "$1"
}

# Stops every process of one host: dockerd first (it stops its containers), then whatever is left
# in the host's namespace or cgroup (shims and containers of a crashed run, daemons the tests ran).
stop_host() {
  local n=$1 rd ns pid
  rd=$(run_dir "$n")
  ns=$(netns "$n")
  if [[ -S $(socket "$n") ]]; then
    mapfile -t ids < <(timeout 20 docker -H "unix://$(socket "$n")" ps -aq 2>/dev/null || true)
    if ((${#ids[@]})); then timeout 60 docker -H "unix://$(socket "$n")" rm -f "${ids[@]}" >/dev/null 2>&1 || true; fi
  fi
  pid=$(cat "$rd/dockerd.pid" 2>/dev/null || true)
  if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    wait_gone "$pid" 100 0.2 || kill -KILL "$pid" 2>/dev/null || true
  fi
  pid=$(cat "$rd/containerd.pid" 2>/dev/null || true)
  if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    wait_gone "$pid" 50 0.1 || true
  fi
  if [[ -e /run/netns/$ns ]]; then
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
  fi
  for procs in /sys/fs/cgroup/*/"$(cgroup_parent "$n")"/*/cgroup.procs; do
    [[ -f $procs ]] || continue
    while read -r pid; do kill -KILL "$pid" 2>/dev/null || true; done <"$procs"
  done
}

down() {
  local n dir
  stop_host 1
  stop_host 2
  sleep 0.2
  for n in 1 2; do
    # Overlay and netns mounts a killed dockerd left behind, deepest first.
    for dir in "$(data_dir "$n")" "$(run_dir "$n")"; do
      { grep -F " $dir/" /proc/mounts || true; } | awk '{print $2}' | sort -r | while read -r m; do
        umount -l "$m" 2>/dev/null || true
      done
    done
    rm -rf "$(data_dir "$n")" "$(run_dir "$n")"
    for cg in /sys/fs/cgroup/*/"$(cgroup_parent "$n")"; do
      [[ -d $cg ]] || continue
      find "$cg" -depth -type d -exec rmdir {} \; 2>/dev/null || true
    done
    ip netns del "$(netns "$n")" 2>/dev/null || true
    ip link del "$(veth "$n")" 2>/dev/null || true
  done
  rm -f "$(owner_file)"
}

# A tiny rootfs: the directories and /etc files Erlang needs; /usr (and /bin, /lib... where they are
# not symlinks into /usr) come from the host read-only at run time, see mount_args.
otp25_rootfs() {
  local out=$CACHE/otp25-rootfs.tar dir d
  if [[ ! -s $out ]]; then
    mkdir -p "$CACHE"
    dir=$(mktemp -d)
    mkdir -p "$dir"/{etc,tmp,root,proc,sys,dev,usr,run,var/tmp}
    chmod 1777 "$dir/tmp" "$dir/var/tmp"
    for d in bin sbin lib lib64; do
      if [[ -L /$d ]]; then ln -s "$(readlink "/$d")" "$dir/$d"; elif [[ -d /$d ]]; then mkdir "$dir/$d"; fi
    done
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' >"$dir/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' >"$dir/etc/group"
    printf 'hosts: files dns\n' >"$dir/etc/nsswitch.conf"
    tar -C "$dir" -cf "$out.tmp" .
    mv "$out.tmp" "$out"
    rm -rf "$dir"
  fi
  echo "$out"
}

# A debootstrapped Debian (trixie: OTP 27, sid: OTP 29, trixie with nodejs: the daemon image's
# base), built once and cached. The package list is part of the cache: a changed list rebuilds.
# erlang-ssl brings crypto, public_key and asn1, which TLS distribution (docs/tls.md) needs.
debian_rootfs() {
  local suite=$1 out=$CACHE/$2-rootfs.tar packages=$3 dir
  if [[ ! -s $out || "$(cat "$out.packages" 2>/dev/null)" != "$packages" ]]; then
    [[ -n $MIRROR ]] || { echo "hosts.sh: no Debian mirror in apt's sources; set EID_DEBIAN_MIRROR" >&2; return 1; }
    mkdir -p "$CACHE"
    dir=$(mktemp -d)
    debootstrap --variant=minbase --include="$packages" "$suite" "$dir" "$MIRROR" >"$CACHE/$2-debootstrap.log" 2>&1 ||
      { echo "hosts.sh: debootstrap $suite failed; see $CACHE/$2-debootstrap.log" >&2; rm -rf "$dir"; return 1; }
    rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/*
    tar -C "$dir" -cf "$out.tmp" .
    mv "$out.tmp" "$out"
    echo "$packages" >"$out.packages"
    rm -rf "$dir"
  fi
  echo "$out"
}

# The cached rootfs tarball of an image kind (built on first use).
rootfs() {
  case $1 in
    otp25) otp25_rootfs ;;
    otp27) debian_rootfs trixie otp27 erlang-base,erlang-ssl ;;
    otp29) debian_rootfs sid otp29 erlang-base,erlang-ssl ;;
    node) debian_rootfs trixie node nodejs,ca-certificates ;;
    *) echo "hosts.sh: unknown image kind '$1' (otp25, otp27, otp29, node)" >&2; return 2 ;;
  esac
}

image() {
  local n=$1 kind=$2 tarball
  tarball=$(rootfs "$kind")
  host_docker "$n" import -c 'ENV HOME=/root' -c 'ENV LANG=C.UTF-8' "$tarball" "eid-$kind" >/dev/null
}

env_vars() {
  for n in 1 2; do
    echo "EID_HOST${n}_NETNS=$(netns "$n")"
    echo "EID_HOST${n}_IP=$(host_ip "$n")"
    echo "EID_HOST${n}_SOCKET=$(socket "$n")"
    echo "EID_HOST${n}_BRIDGE=$(bridge_cidr "$n")"
  done
}

cmd=${1:-}
shift || true
case $cmd in
  up) up ;;
  down) if [[ ${1:-} != --force ]]; then check_owner; fi; down ;;
  # exec: nsenter replaces this shell and execs CMD, so the caller's child pid is CMD's pid.
  exec) n=$1; shift; exec nsenter --net="/run/netns/$(netns "$n")" "$@" ;;
  docker) n=$1; shift; host_docker "$n" "$@" ;;
  image) image "$@" ;;
  rootfs) rootfs "$1" ;;
  stop-docker) stop_docker "$1" ;;
  start-docker) start_docker "$1" ;;
  env) env_vars ;;
  *) sed -n '2,/^set -euo/p' "$0" | sed '$d' >&2; exit 2 ;;
esac
