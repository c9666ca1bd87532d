#!/usr/bin/env bash
# tests/k8s/check.sh — the Kubernetes manifests, checked without a cluster.
#
#   1. every overlay under k8s/overlays/ builds (`kubectl kustomize`), alone and with
#      every optional component of k8s/components/ added (as an operator would add
#      them to its `components:`), and so does the restore Job of k8s/ops/;
#   2. every object validates against the Kubernetes API's schemas, offline and strict
#      (kubernetes-validate), for the oldest and the newest Kubernetes version we target;
#   3. the policy scanner checkov passes on the built overlays (settings and global skips
#      with their reasons: checkov.yaml; per-object skips are annotations);
#   4. consistency.py holds the overlays, the restore Job and docker-compose.yml to the
#      services' code and to the operational promises (variables, ports, probe paths,
#      drain time, image targets, HPAs and PDBs, the MariaDB connection budget,
#      ServiceAccounts, labels, the password in one Secret, backups, monitoring), and is
#      shown to fail on manifests with deliberate mistakes.
#
# The tools are pinned (requirements.txt, constraints.txt) and installed into
# .venv-k8s/ (gitignored) on first use, or again when those files change.
# Prints libtest-style lines and a closing "test result:" line.
#
# Usage: tests/k8s/check.sh
# To refresh the pins: edit requirements.txt, delete .venv-k8s, run
#   python3 -m venv .venv-k8s && .venv-k8s/bin/pip install -r tests/k8s/requirements.txt
#   .venv-k8s/bin/pip freeze  (into constraints.txt, keeping its header)
set -Eeuo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
ROOT=$PWD
HERE=$ROOT/tests/k8s
VENV=${K8S_VENV:-$ROOT/.venv-k8s}
# Kubernetes versions the manifests must be valid for: 1.30 is the oldest with the
# preStop `sleep` action on by default; the newest is kubernetes-validate's default.
KUBE_VERSIONS=(1.30.0 1.37.0)

SUITE=k8s
# shellcheck source=../lib.sh
. "$ROOT/tests/lib.sh"
OUT=$(mktemp -d "${TMPDIR:-/tmp}/blog-k8s.XXXXXX")
# overlays with the components added are built beside the real ones (same relative
# paths); dot-directories, never committed (.gitignore)
VARIANTS=()
trap 'rm -rf "$OUT" "${VARIANTS[@]}"' EXIT
CASE_DIR=$OUT

# case_ NAME CMD...: runs CMD with its output in a log, shown only if it fails.
case_() { run_case "$@" || true; }

# ------------------------------------------------------------------ tools --

stamp=$(cat "$HERE/requirements.txt" "$HERE/constraints.txt" | sha256sum | cut -c1-16)
if [[ ! -x $VENV/bin/kubectl || $(cat "$VENV/.installed" 2>/dev/null) != "$stamp" ]]; then
  log "installing the pinned tools into ${VENV#"$ROOT"/} (kubectl, kubernetes-validate, checkov)"
  t0=$(now_ms)
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  echo '*' >"$VENV/.gitignore" # never committed, whatever the top-level .gitignore says
  "$VENV/bin/pip" install --quiet --disable-pip-version-check \
    -r "$HERE/requirements.txt" -c "$HERE/constraints.txt"
  echo "$stamp" >"$VENV/.installed"
  log "installed in $(secs "$t0")"
fi
PATH="$VENV/bin:$PATH"
log "$(kubectl version --client 2>/dev/null | tr '\n' ' '); kubernetes-validate $(kubernetes-validate --version 2>&1); checkov $(checkov --version 2>&1)"

# ----------------------------------------------------------------- checks --

# with_components OVERLAY: a copy of OVERLAY's directory whose kustomization also lists
# every component; prints its path.
with_components() {
  local variant="k8s/overlays/.check-$1" c
  rm -rf "$variant"
  cp -r "k8s/overlays/$1" "$variant"
  grep -q '^components:' "$variant/kustomization.yaml" && { echo "$1 already lists components" >&2; return 1; }
  {
    echo "components:"
    for c in k8s/components/*/; do echo "  - ../../components/$(basename "$c")"; done
  } >>"$variant/kustomization.yaml"
  echo "$variant"
}

overlays=()
for dir in k8s/overlays/*/; do
  name=$(basename "$dir")
  overlays+=("$name" "$name+components")
  case_ "kustomize_builds::$name" kubectl kustomize "$dir" -o "$OUT/$name.yaml"
  variant=$(with_components "$name")
  # (recorded here: with_components runs in a subshell)
  [[ -z $variant ]] || VARIANTS+=("$ROOT/$variant")
  case_ "kustomize_builds::$name+components" kubectl kustomize "$variant" -o "$OUT/$name+components.yaml"
done
(( ${#overlays[@]} >= 4 )) || { log "expected at least the dev and prod overlays"; FAILED=$((FAILED + 1)); }
ops_jobs=(k8s/ops/*.yaml)

for name in "${overlays[@]}"; do
  [[ -s $OUT/$name.yaml ]] || continue
  for version in "${KUBE_VERSIONS[@]}"; do
    case_ "schemas_validate::$name::$version" \
      kubernetes-validate --strict --quiet --kubernetes-version "$version" "$OUT/$name.yaml"
  done
  case_ "checkov_passes::$name" \
    checkov --config-file "$HERE/checkov.yaml" -f "$OUT/$name.yaml"
done
for job in "${ops_jobs[@]}"; do
  for version in "${KUBE_VERSIONS[@]}"; do
    case_ "schemas_validate::$(basename "$job" .yaml)::$version" \
      kubernetes-validate --strict --quiet --kubernetes-version "$version" "$job"
  done
  case_ "checkov_passes::$(basename "$job" .yaml)" checkov --config-file "$HERE/checkov.yaml" -f "$job"
done

built=()
for name in "${overlays[@]}"; do [[ -s $OUT/$name.yaml ]] && built+=("$name=$OUT/$name.yaml"); done
consistency_log="$OUT/consistency.log"
rc=0
ops_args=()
for job in "${ops_jobs[@]}"; do ops_args+=(--ops "$job"); done
python "$HERE/consistency.py" --root "$ROOT" --compose "$ROOT/docker-compose.yml" "${ops_args[@]}" "${built[@]}" \
  >"$consistency_log" 2>&1 || rc=$?
grep -v '^\[consistency\] [0-9]* passed' "$consistency_log" | sed 's/^test consistency::/test k8s::consistency::/'
PASSED=$((PASSED + $(grep -c '^test consistency::.* ok$' "$consistency_log" || true)))
FAILED=$((FAILED + $(grep -c '^test consistency::.* FAILED$' "$consistency_log" || true)))
if (( rc != 0 )) && ! grep -q '^test consistency::.* FAILED$' "$consistency_log"; then
  FAILED=$((FAILED + 1)) # it broke before checking anything
fi

# The checker must not pass everything: feed it mistakes it has to find. Most are planted
# in the dev overlay with every component; a few in the overlay alone, in prod (alone or
# with every component), in the Galera compose file or in the restore Job.
mutant_is_caught() {
  local mistake=$1 name=dev+components mutant="$OUT/mutant.yaml" galera="$ROOT/docker-compose.galera.yml"
  case $mistake in
    single-node-on-the-galera-image) name=dev ;;
    prod-galera-*) name=prod+components ;;
    prod-*) name=prod ;;
    compose-*) mutant="$OUT/mutant-galera.yml" ;;
    ops-*) name=prod mutant="$OUT/mutant-job.yaml" ;;
  esac
  local base="$OUT/$name.yaml"
  [[ $mistake == compose-* ]] && base=$galera
  [[ $mistake == ops-* ]] && base=$ROOT/k8s/ops/mariadb-restore-job.yaml
  case $mistake in
    unknown-variable) sed 's/name: DATABASE_PASSWORD_FILE$/name: DATABASE_SECRET_FILE/' "$base" ;;
    secret-file-not-mounted) sed 's|value: /run/secrets/blog/session-secret$|value: /run/secrets/session-secret|' "$base" ;;
    secret-file-of-a-missing-key) sed 's/- key: session-secret$/- key: session-key/' "$base" ;;
    unserved-probe-path) sed 's|path: /healthz|path: /health|' "$base" ;;
    wrong-container-port) sed 's/containerPort: 8081/containerPort: 9090/' "$base" ;;
    liveness-on-readyz) awk '/livenessProbe:/ { live = 1 } live && /path:/ { sub("/healthz", "/readyz"); live = 0 } 1' "$base" ;;
    replicas-beside-an-hpa) sed 's/^  revisionHistoryLimit: 5$/  replicas: 2\n&/' "$base" ;;
    pools-over-the-connection-budget) sed 's/DB_POOL_MAX: "10"/DB_POOL_MAX: "14"/' "$base" ;;
    password-in-the-database-url) sed 's|mysql://blog@mariadb|mysql://blog:dev-only-db-password@mariadb|' "$base" ;;
    pdb-min-available) sed 's/^  maxUnavailable: 1$/  minAvailable: 1/' "$base" ;;
    default-service-account) sed '/serviceAccountName: render-service/d' "$base" ;;
    backup-without-network-policy) sed 's/name: allow-backup-egress-to-mariadb/name: x/; /name: x/,/^---/ s/app.kubernetes.io\/name: mariadb-backup/app.kubernetes.io\/name: nobody/' "$base" ;;
    stale-alert-rules) sed 's/for: 2m$/for: 20m/' "$base" ;;
    migration-job-and-migrate-on-start) sed 's/MIGRATE_ON_START: "false"/MIGRATE_ON_START: "true"/' "$base" ;;
    galera-urls-miss-a-node) sed 's|,mysql://blog@mariadb-2.mariadb:3306/blog||' "$base" ;;
    galera-port-open-to-all) sed '/name: allow-galera-peers/,/^---/ { /^  ingress:/,/^  podSelector:/ s/app.kubernetes.io\/name: mariadb$/app.kubernetes.io\/part-of: blog/ }' "$base" ;;
    galera-on-the-public-image) sed 's|image: blog/mariadb-galera:10.11$|image: mariadb:10.11|' "$base" ;;
    single-node-on-the-galera-image) sed 's|^        image: mariadb:10.11$|        image: blog/mariadb-galera:10.11|' "$base" ;;
    root-from-anywhere) sed "s/MARIADB_ROOT_HOST: localhost\$/MARIADB_ROOT_HOST: '%'/" "$base" ;;
    migrations-as-the-runtime-account) sed 's/MIGRATION_DATABASE_USER: blog_migrate$/MIGRATION_DATABASE_USER: blog/' "$base" ;;
    backup-as-the-runtime-account) sed 's/key: MARIADB_MIGRATION_USER$/key: MARIADB_USER/' "$base" ;;
    prod-render-over-plain-http) sed 's|POSTS_SERVICE_URL: https://posts-service:8081|POSTS_SERVICE_URL: http://posts-service:8081|' "$base" ;;
    prod-database-in-the-clear) sed 's/DATABASE_TLS: "true"/DATABASE_TLS: "false"/' "$base" ;;
    prod-galera-replication-in-the-clear) sed '/- name: GALERA_TLS_[A-Z]*_FILE$/,+1d' "$base" ;;
    prod-galera-tls-file-not-mounted) sed 's|value: /etc/mysql/tls/tls.key$|value: /etc/mysql/tls.key|' "$base" ;;
    prod-backups-in-the-clear) sed '/^  MARIADB_CA_FILE: /d' "$base" ;;
    ops-restore-in-the-clear) sed '/- name: MARIADB_CA_FILE$/,/optional: true$/d' "$base" ;;
    # (its build context made absolute: the copy is not beside the original)
    compose-galera-on-the-public-image)
      sed "s|image: blog/mariadb-galera:10.11\$|image: mariadb:10.11|; s|context: \./|context: $ROOT/|" "$base" ;;
    compose-secret-in-the-environment)
      sed "s|MARIADB_PASSWORD_FILE: /run/secrets/mariadb_password|MARIADB_PASSWORD: hunter2|; s|context: \./|context: $ROOT/|" "$base" ;;
    compose-secret-not-mounted)
      sed "/^  secrets:\$/,/^  networks:/ { /- mariadb_password/d }; s|context: \./|context: $ROOT/|" "$base" ;;
    compose-root-from-anywhere)
      sed "s|MARIADB_ROOT_HOST: localhost|MARIADB_ROOT_HOST: '%'|; s|context: \./|context: $ROOT/|" "$base" ;;
    compose-replication-in-the-clear)
      sed "/GALERA_TLS_KEY_FILE:/d; s|context: \./|context: $ROOT/|" "$base" ;;
    compose-render-over-plain-http)
      sed "s|POSTS_SERVICE_URL: https://|POSTS_SERVICE_URL: http://|; s|context: \./|context: $ROOT/|" "$base" ;;
  esac >"$mutant"
  ! cmp -s "$mutant" "$base" || { echo "the mutation $mistake changed nothing"; return 1; }
  local args=("$name=$mutant")
  [[ $mistake == compose-* ]] && args=("$name=$OUT/$name.yaml" --compose-galera "$mutant")
  [[ $mistake == ops-* ]] && args=("$name=$OUT/$name.yaml" --ops "$mutant")
  if python "$HERE/consistency.py" --root "$ROOT" --compose "$ROOT/docker-compose.yml" "${args[@]}"; then
    echo "consistency.py accepted a manifest with the mistake: $mistake"
    return 1
  fi
}
if [[ -s $OUT/dev+components.yaml && -s $OUT/dev.yaml ]]; then
  for mistake in unknown-variable secret-file-not-mounted secret-file-of-a-missing-key unserved-probe-path wrong-container-port liveness-on-readyz \
    replicas-beside-an-hpa pools-over-the-connection-budget password-in-the-database-url \
    pdb-min-available default-service-account backup-without-network-policy stale-alert-rules \
    migration-job-and-migrate-on-start galera-urls-miss-a-node galera-port-open-to-all \
    galera-on-the-public-image single-node-on-the-galera-image compose-galera-on-the-public-image \
    compose-secret-in-the-environment compose-secret-not-mounted root-from-anywhere \
    migrations-as-the-runtime-account backup-as-the-runtime-account prod-render-over-plain-http \
    prod-database-in-the-clear compose-root-from-anywhere compose-replication-in-the-clear \
    compose-render-over-plain-http prod-galera-replication-in-the-clear \
    prod-galera-tls-file-not-mounted prod-backups-in-the-clear ops-restore-in-the-clear; do
    case_ "consistency_catches::$mistake" mutant_is_caught "$mistake"
  done
fi

result_line
