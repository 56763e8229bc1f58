#!/usr/bin/env bash
# Certificates for TLS distribution (docs/tls.md): one private CA, and a certificate per Docker host
# that every container on that host shares. Node names are ContainerID@HostIP, so the host's IP is
# what a peer checks: it goes in subjectAltName as an IP address and also as a DNS name, because
# OTP's client matches the host part of a node name as a DNS name even when it is an IP.
#
#   scripts/dist-certs.sh [--dir DIR] [--days N] HOST...       one certificate per HOST (IP or DNS name)
#   scripts/dist-certs.sh [--dir DIR] --node NAME@HOST ...      a certificate for one node (optional)
#
# DIR (default ./certs) gets ca.pem and ca.key once (kept on later runs, so new hosts join the same
# CA), then HOST/cert.pem and HOST/key.pem per host, NAME@HOST/... per node. Keys are mode 0600.
# Every certificate serves both sides (serverAuth and clientAuth): a node dials and accepts.
set -euo pipefail

dir=./certs
days=825
hosts=()
nodes=()
while [ "$#" -gt 0 ]; do
  case $1 in
    --dir) dir=$2; shift 2 ;;
    --days) days=$2; shift 2 ;;
    --node) nodes+=("$2"); shift 2 ;;
    -h | --help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "dist-certs.sh: unknown option $1" >&2; exit 2 ;;
    *) hosts+=("$1"); shift ;;
  esac
done
[ "${#hosts[@]}" -gt 0 ] || [ "${#nodes[@]}" -gt 0 ] || { echo "dist-certs.sh: name at least one HOST or --node NAME@HOST" >&2; exit 2; }
command -v openssl >/dev/null || { echo "dist-certs.sh: openssl is not installed" >&2; exit 1; }

umask 077
mkdir -p "$dir"
chmod 0755 "$dir"
if [ ! -f "$dir/ca.pem" ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
    -subj "/CN=eid distribution CA" -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
  chmod 0644 "$dir/ca.pem"
  echo "dist-certs.sh: new CA $dir/ca.pem"
fi

is_ip() { [[ $1 =~ ^[0-9.]+$ || $1 == *:* ]]; }

# issue OUT CN SAN: a key and a certificate signed by the CA.
issue() {
  local out=$1 cn=$2 san=$3
  mkdir -p "$out"
  chmod 0755 "$out"
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$cn" \
    -keyout "$out/key.pem" -out "$out/req.csr" 2>/dev/null
  printf '%s\n' "subjectAltName=$san" "basicConstraints=CA:FALSE" \
    "keyUsage=digitalSignature,keyEncipherment" "extendedKeyUsage=serverAuth,clientAuth" >"$out/ext.cnf"
  openssl x509 -req -in "$out/req.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial \
    -days "$days" -extfile "$out/ext.cnf" -out "$out/cert.pem" 2>/dev/null
  rm -f "$out/req.csr" "$out/ext.cnf"
  chmod 0644 "$out/cert.pem"
  echo "dist-certs.sh: $out/cert.pem ($san)"
}

host_san() {
  if is_ip "$1"; then echo "IP:$1,DNS:$1"; else echo "DNS:$1"; fi
}

for host in "${hosts[@]}"; do
  issue "$dir/$host" "$host" "$(host_san "$host")"
done
for node in "${nodes[@]}"; do
  [[ $node == *@* ]] || { echo "dist-certs.sh: --node wants NAME@HOST, not $node" >&2; exit 2; }
  issue "$dir/$node" "$node" "$(host_san "${node#*@}")"
done
