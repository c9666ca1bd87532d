#!/usr/bin/env bash
# deploy/tls/make-certs.sh — a throwaway certificate authority and the server
# certificates it signs, for encryption between the blog's parts on a laptop or in a
# test cluster. Not for production: the CA's key lies next to the certificates, and
# anyone who reads it can mint certificates the services trust.
#
# Usage: deploy/tls/make-certs.sh DIR [EXTRA_NAME...]
#
# Writes into DIR (created if missing; existing files are replaced):
#
#   ca.pem, ca.key                   the CA (10 years); ca.pem is what clients trust:
#                                    render-service's POSTS_CA_FILE, posts-service's
#                                    DATABASE_CA_FILE
#   posts-service.pem/.key           posts-service's certificate (TLS_CERT_FILE,
#                                    TLS_KEY_FILE)
#   render-service.pem/.key          render-service's, should its listener serve HTTPS
#   mariadb.pem/.key                 MariaDB's (--ssl-cert, --ssl-key; --ssl-ca ca.pem)
#
# Each server certificate (2 years) names the service as compose and Kubernetes
# call it (`posts-service`; `posts-service.NS.svc` and
# `posts-service.NS.svc.cluster.local` for the namespaces `blog` and `blog-dev`;
# MariaDB also as `db`, as the Galera nodes of docker-compose.galera.yml (`mariadb-2`,
# `mariadb-3`) and of the Kubernetes galera component (`mariadb-N.mariadb` and its
# `.NS.svc` forms, N 0 to 2)), `localhost` and `127.0.0.1`, plus every EXTRA_NAME given
# (a host name, or an IP address). Keys are ECDSA P-256, readable only by their owner
# (mode 600) unless KEY_MODE says otherwise: the services' images and MariaDB run as
# users of their own, so a throwaway set mounted straight into containers on a laptop
# needs KEY_MODE=644 (or copies owned by those users).
#
# Rotation: run again into a fresh directory, put the files in place, and restart the
# services; they read certificates only when they start.
set -euo pipefail

if [[ $# -lt 1 || "$1" == -* ]]; then
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
  exit 2
fi
dir=$1
shift
extra=("$@")
command -v openssl >/dev/null || { echo "make-certs: openssl is needed" >&2; exit 1; }
mkdir -p "$dir"
umask 077

# The CA.
openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
  -keyout "$dir/ca.key" -out "$dir/ca.pem" -days 3650 -subj "/CN=blog test CA" \
  -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null

# alt_names NAME... -> "DNS:a,DNS:b,IP:127.0.0.1"
alt_names() {
  local out=() name
  for name in "$@"; do
    if [[ "$name" =~ ^[0-9.]+$ || "$name" == *:* ]]; then
      out+=("IP:$name")
    else
      out+=("DNS:$name")
    fi
  done
  local IFS=,
  echo "${out[*]}"
}

# server [--client] NAME ALIAS... : a key and a certificate for NAME signed by the CA
# (--client: for TLS clients too)
server() {
  local usage=serverAuth
  if [[ $1 == --client ]]; then usage=serverAuth,clientAuth; shift; fi
  local name=$1
  shift
  local names=("$name") namespace
  for namespace in blog blog-dev; do
    names+=("$name.$namespace.svc" "$name.$namespace.svc.cluster.local")
  done
  names+=("$@" localhost 127.0.0.1 ${extra[@]+"${extra[@]}"})
  local ext
  ext=$(mktemp)
  printf '%s\n' \
    "basicConstraints=critical,CA:FALSE" \
    "keyUsage=critical,digitalSignature,keyEncipherment" \
    "extendedKeyUsage=$usage" \
    "subjectAltName=$(alt_names "${names[@]}")" >"$ext"
  openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
    -keyout "$dir/$name.key" -out "$dir/$name.csr" -subj "/CN=$name" 2>/dev/null
  openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
    -CAcreateserial -out "$dir/$name.pem" -days 730 -sha256 -extfile "$ext" 2>/dev/null
  rm -f "$ext" "$dir/$name.csr"
}

server posts-service
server render-service
galera=(mariadb-2 mariadb-3)
for n in 0 1 2; do
  galera+=("mariadb-$n.mariadb")
  for namespace in blog blog-dev; do
    galera+=("mariadb-$n.mariadb.$namespace.svc" "mariadb-$n.mariadb.$namespace.svc.cluster.local")
  done
done
server --client mariadb db "${galera[@]}"
rm -f "$dir/ca.srl"
chmod 644 "$dir"/*.pem
chmod "${KEY_MODE:-600}" "$dir"/posts-service.key "$dir"/render-service.key "$dir"/mariadb.key
echo "make-certs: wrote a CA and certificates for posts-service, render-service and mariadb into $dir"
