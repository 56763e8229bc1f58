#!/usr/bin/env bash
# Certificates for TLS distribution (docs/tls.md): one private CA, and a certificate per Docker host
# that every container on that host shares. Node names are ContainerID@HostIP, so the host's IP is
# what a peer checks: it goes in subjectAltName as an IP address and also as a DNS name, because
# OTP 25's client matches the host part of a node name as a DNS name even when it is an IP (OTP 27
# matches the IP entry).
#
#   scripts/dist-certs.sh [--dir DIR] [--days N] HOST...       one certificate per HOST (IP or DNS name)
#   scripts/dist-certs.sh [--dir DIR] --node NAME@HOST ...      a certificate for one node (optional)
#   scripts/dist-certs.sh [--dir DIR] --expired HOST...         an expired one, for refusal tests
#
# DIR (default ./certs) gets ca.pem and ca.key once (kept on later runs, so new hosts join the same
# CA), then HOST/cert.pem and HOST/key.pem per host, NAME@HOST/... per node. Keys are mode 0600.
# Every certificate serves both sides (serverAuth and clientAuth): a node dials and accepts.
#
# For refusal tests: --expired issues the certificates, signed by DIR's CA, already expired (valid
# 2020-01-01 to 2020-01-02 only) under DIR/expired/ instead; a foreign CA is just another --dir.
set -euo pipefail

dir=./certs
days=825
expired=false
hosts=()
nodes=()
while [ "$#" -gt 0 ]; do
  case $1 in
    --dir) dir=$2; shift 2 ;;
    --days) days=$2; shift 2 ;;
    --node) nodes+=("$2"); shift 2 ;;
    --expired) expired=true; shift ;;
    -h | --help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
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
  if $expired; then
    sign_expired "$out"
  else
    openssl x509 -req -in "$out/req.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial \
      -days "$days" -extfile "$out/ext.cnf" -out "$out/cert.pem" 2>/dev/null
  fi
  rm -f "$out/req.csr" "$out/ext.cnf"
  chmod 0644 "$out/cert.pem"
  echo "dist-certs.sh: $out/cert.pem ($san)"
}

# sign_expired OUT: signs OUT/req.csr with validity dates in the past. `openssl x509` (3.0) only
# counts days from now, so this takes `openssl ca`, which needs a throwaway database.
sign_expired() {
  local out=$1 db
  db=$(mktemp -d)
  touch "$db/index.txt"
  printf '%s\n' '[ca]' 'default_ca = expired' '[expired]' "database = $db/index.txt" "new_certs_dir = $db" \
    "serial = $db/serial" 'default_md = sha256' 'policy = any' '[any]' 'commonName = supplied' >"$db/ca.cnf"
  openssl rand -hex 16 >"$db/serial"
  openssl ca -batch -notext -config "$db/ca.cnf" -cert "$dir/ca.pem" -keyfile "$dir/ca.key" \
    -startdate 20200101000000Z -enddate 20200102000000Z -extfile "$out/ext.cnf" \
    -in "$out/req.csr" -out "$out/cert.pem" 2>/dev/null
  rm -rf "$db"
}

host_san() {
  if is_ip "$1"; then echo "IP:$1,DNS:$1"; else echo "DNS:$1"; fi
}

out=$dir
$expired && out=$dir/expired
for host in "${hosts[@]}"; do
  issue "$out/$host" "$host" "$(host_san "$host")"
done
for node in "${nodes[@]}"; do
  [[ $node == *@* ]] || { echo "dist-certs.sh: --node wants NAME@HOST, not $node" >&2; exit 2; }
  issue "$out/$node" "$node" "$(host_san "${node#*@}")"
done
