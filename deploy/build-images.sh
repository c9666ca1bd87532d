#!/usr/bin/env bash
# deploy/build-images.sh — build, from Debian packages only, every container
# image this project needs, so that `docker compose` and testcontainers find them
# locally and never pull. The stand-ins for public images carry the public names;
# the project's own Galera image carries its own.
#
# Meant for hosts with a Docker engine but no registry (CI starts from a fresh
# machine). Images built (in this order, later ones build FROM earlier ones):
#
#   debian:bookworm-slim      debootstrap --variant=minbase + `docker import`
#   mariadb:10.11             deploy/images/mariadb, target `server`: Debian's
#                             mariadb-server, a single node like the public image
#   blog/mariadb-galera:10.11 deploy/images/mariadb, target `galera`: the same server
#                             as a Galera Cluster node (GALERA_* variables); also
#                             tagged 10.11-$GALERA_IMAGE_VERSION. No public image has it
#   rust:X.Y-slim-bookworm    the top-level Dockerfile's build stage: Debian's gcc and
#                             libc6-dev + THIS HOST's Rust toolchain, repackaged (the
#                             toolchain cannot be downloaded here); X.Y is the
#                             Dockerfile's `ARG RUST_VERSION`
#   prom/prometheus:vX.Y.Z    docker build deploy/images/prometheus (Debian's prometheus,
#                             with promtool): `docker compose --profile monitoring` and
#                             tests/prometheus/run.sh
#   blog/mariadb-backup:10.11 deploy/images/mariadb-backup FROM mariadb:10.11: restic and
#                             busybox for the compose backup jobs and backup-metrics
#
# Usage: deploy/build-images.sh [--force] [--verbose] [IMAGE...]
#   IMAGE      build only these tags (default: all); missing base images are
#              built too
#   --force    rebuild even if the tag already exists (default: skip it)
#   --verbose  stream the output of debootstrap/apt/docker build (default: it
#              goes to a log file whose tail is printed if the step fails)
#   --list     print the image tags this script builds and exit
#
# Environment: DEBIAN_MIRROR, DEBIAN_SECURITY_MIRROR override the mirrors
# (default: the ones configured for bookworm in this host's apt sources; a host
# without them must set both).
# RUST_TOOLCHAIN_DIR: the toolchain packaged into the rust image (default: the
# sysroot of the host's `rustc +stable`).
#
# To add an image: write a build_<name> function below and add a line to IMAGES.
set -Eeuo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
IMAGES_DIR="$HERE/images"
SUITE=bookworm
# The Rust version the top-level Dockerfile builds with (`ARG RUST_VERSION=X.Y`).
RUST_VERSION=$(sed -n 's/^ARG RUST_VERSION=\([0-9.]*\).*/\1/p' "$HERE/../Dockerfile" 2>/dev/null | head -n 1 || true)
RUST_VERSION=${RUST_VERSION:-1.95}
# Debian bookworm's prometheus package; docker-compose.yml names the same tag.
PROMETHEUS_VERSION=2.42.0
# The Galera image's own version (its second tag and its OCI version label).
GALERA_IMAGE=blog/mariadb-galera
GALERA_IMAGE_VERSION=0.3.0

# The backup jobs' image: mariadb:10.11 with restic and busybox (the project's own).
BACKUP_IMAGE=blog/mariadb-backup
# tag | build function | tags it builds FROM (space separated, may be empty)
IMAGES=(
  "debian:bookworm-slim|build_debian_slim|"
  "mariadb:10.11|build_mariadb|debian:bookworm-slim"
  "$GALERA_IMAGE:10.11|build_mariadb_galera|mariadb:10.11"
  "rust:$RUST_VERSION-slim-bookworm|build_rust|debian:bookworm-slim"
  "prom/prometheus:v$PROMETHEUS_VERSION|build_prometheus|debian:bookworm-slim"
  "$BACKUP_IMAGE:10.11|build_mariadb_backup|mariadb:10.11"
)

# The engine may have BuildKit on or off by default; the legacy builder is
# known to resolve FROM against local images only, so use it unless told otherwise.
export DOCKER_BUILDKIT=${DOCKER_BUILDKIT:-0}

FORCE=0 VERBOSE=0
WORKDIR="" CURRENT_STEP="" CURRENT_LOG=""
declare -A BUILT=()

# ---------------------------------------------------------------- helpers --

log() { printf '[build-images] %s\n' "$*"; }
die() { printf '[build-images] ERROR: %s\n' "$*" >&2; exit 1; }

now_us() { echo "${EPOCHREALTIME/[.,]/}"; }
# elapsed START_US: seconds since START_US, e.g. "12.3s"
elapsed() { local d=$(( $(now_us) - $1 )); printf '%d.%01ds' $((d / 1000000)) $(( (d / 100000) % 10 )); }

# step "DESCRIPTION" CMD...: run CMD, print what runs and how long it took.
# Without --verbose the command's output goes to a log file; on failure the
# ERR trap prints its tail. set -e stays in force inside CMD (not run under ||).
step() {
  local desc=$1 t0; shift
  t0=$(now_us)
  CURRENT_STEP=$desc
  log "  -> $desc"
  if (( VERBOSE )); then
    CURRENT_LOG=""
    "$@"
  else
    CURRENT_LOG="$WORKDIR/step.log"
    "$@" >"$CURRENT_LOG" 2>&1
  fi
  log "     done in $(elapsed "$t0")"
  CURRENT_STEP="" CURRENT_LOG=""
}

on_error() {
  local rc=$? line=$1
  trap - ERR
  if [[ -n $CURRENT_LOG && -s $CURRENT_LOG ]]; then
    printf '[build-images] ---- last lines of output of "%s" ----\n' "$CURRENT_STEP" >&2
    tail -n 60 "$CURRENT_LOG" >&2
    printf '[build-images] ----\n' >&2
  fi
  printf '[build-images] FAILED (exit %s, line %s)%s\n' "$rc" "$line" \
    "${CURRENT_STEP:+ during step: $CURRENT_STEP}" >&2
  exit "$rc"
}

cleanup() {
  if [[ -n $WORKDIR && -d $WORKDIR ]]; then
    # never follow a mount point out of the work dir
    rm -rf --one-file-system "$WORKDIR"
  fi
}

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

# context_hash TAG: digest of the build context directory of TAG's image (file names
# and contents), empty for images without one. Stored as a label, it tells a present
# image built from an older context (e.g. before the Galera tools) from a current one.
context_hash() {
  local dir
  case $1 in
    mariadb:* | "$GALERA_IMAGE":*) dir=$IMAGES_DIR/mariadb ;;
    "$BACKUP_IMAGE":*) dir=$IMAGES_DIR/mariadb-backup ;;
    *) return 0 ;;
  esac
  (cd "$dir" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum) | sha256sum | cut -c1-16
}
CONTEXT_LABEL=org.example.blog.context-sha256
image_context_hash() { docker image inspect --format "{{index .Config.Labels \"$CONTEXT_LABEL\"}}" "$1" 2>/dev/null; }

image_summary() {
  docker image inspect --format '{{.Id}} {{.Size}}' "$1" |
    awk '{ printf "%s, %.0f MB", substr($1, 8, 12), $2 / 1e6 }'
}

# host_mirror SUITE: first "deb" URI the host's apt configuration uses for
# SUITE (deb822 *.sources and one-line *.list formats); empty if none.
host_mirror() {
  local files=() f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [[ -r $f ]] && files+=("$f")
  done
  (( ${#files[@]} )) || return 0
  awk -v want="$1" '
    function flush() {
      if (!found && hit && isdeb && uri != "") { print uri; found = 1 }
      uri = ""; hit = 0; isdeb = 0
    }
    FNR == 1 { flush() }
    FILENAME ~ /\.sources$/ {
      if ($0 ~ /^[[:space:]]*$/) { flush(); next }
      if ($1 == "Types:")  for (i = 2; i <= NF; i++) if ($i == "deb") isdeb = 1
      if ($1 == "URIs:")   uri = $2
      if ($1 == "Suites:") for (i = 2; i <= NF; i++) if ($i == want) hit = 1
      next
    }
    $1 == "deb" {
      i = 2
      if ($i ~ /^\[/) { while (i < NF && $i !~ /\]$/) i++; i++ }
      if (!found && $(i + 1) == want) { print $i; found = 1 }
    }
    END { flush() }' "${files[@]}" | sed 's:/*$::'
}

ensure_debootstrap() {
  command -v debootstrap >/dev/null && return 0
  log "  debootstrap is not installed; installing it with apt-get"
  step "apt-get update" apt-get update
  step "apt-get install debootstrap" \
    env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends debootstrap
}

# ------------------------------------------------------------ the images --

# debian:bookworm-slim — minimal bookworm root filesystem, imported as an image.
build_debian_slim() {
  local tag=$1
  local mirror security rootfs="$WORKDIR/rootfs"
  mirror=${DEBIAN_MIRROR:-$(host_mirror "$SUITE")}
  security=${DEBIAN_SECURITY_MIRROR:-$(host_mirror "$SUITE-security")}
  [[ -n $mirror && -n $security ]] ||
    die "no Debian $SUITE mirror in this host's apt sources: set DEBIAN_MIRROR and DEBIAN_SECURITY_MIRROR"
  log "  mirror: $mirror   security: $security"
  [[ $(id -u) == 0 ]] || die "building $tag needs root (apt-get, debootstrap, chroot)"

  ensure_debootstrap
  rm -rf --one-file-system "$rootfs"
  step "debootstrap --variant=minbase $SUITE (downloads ~90 packages)" \
    debootstrap --variant=minbase --components=main "$SUITE" "$rootfs" "$mirror"
  step "configure apt sources (incl. $SUITE-security) and slim dpkg/apt settings" \
    configure_rootfs "$rootfs" "$mirror" "$security"
  step "apply $SUITE-updates and $SUITE-security updates" \
    chroot "$rootfs" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
      DEBIAN_FRONTEND=noninteractive sh -euc 'apt-get update; apt-get -y upgrade; apt-get clean'
  step "remove docs, man pages, locales, apt lists, logs" slim_rootfs "$rootfs"
  step "docker import -> $tag" import_rootfs "$rootfs" "$tag"
  step "remove the debootstrap work dir" rm -rf --one-file-system "$rootfs"
}

configure_rootfs() {
  local rootfs=$1 mirror=$2 security=$3
  # dpkg/apt settings for containers (no docs, no .deb cache, policy-rc.d, ...)
  cp -a "$IMAGES_DIR/debian/rootfs/." "$rootfs/"
  rm -f "$rootfs/etc/apt/sources.list"
  cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: $SUITE $SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security
Suites: $SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  # debootstrap copied the host's resolv.conf and hostname; keep resolv.conf
  # for the update step (removed in slim_rootfs), docker provides both at run time
  echo localhost >"$rootfs/etc/hostname"
}

slim_rootfs() {
  local r=$1
  find "$r/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  find "$r/usr/share/doc" -mindepth 1 -type d -empty -delete
  rm -rf "$r"/usr/share/{man,info,groff,lintian,linda,locale}/*
  rm -rf "$r"/var/lib/apt/lists/* "$r"/var/cache/apt/*.bin "$r"/var/cache/apt/archives/*.deb \
         "$r"/var/cache/debconf/*-old "$r"/var/lib/dpkg/*-old "$r"/var/log/* \
         "$r"/tmp/* "$r"/var/tmp/* "$r"/root/.bash_history "$r"/etc/resolv.conf \
         "$r"/debootstrap
  mkdir -p "$r/var/lib/apt/lists/partial"
  : >"$r/etc/machine-id"
  # /dev, /proc, /sys are provided by the container runtime
  find "$r/dev" "$r/proc" "$r/sys" -mindepth 1 -delete 2>/dev/null || true
}

import_rootfs() {
  local rootfs=$1 tag=$2
  tar --numeric-owner --xattrs -C "$rootfs" -cf - . |
    docker import \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change 'ENV LANG=C.UTF-8' \
      --change 'CMD ["bash"]' \
      --change 'LABEL org.opencontainers.image.description="Debian bookworm minbase, built locally by deploy/build-images.sh"' \
      --message "debootstrap --variant=minbase $SUITE (deploy/build-images.sh)" \
      - "$tag"
}

# mariadb:10.11 — Debian's mariadb-server with an entrypoint compatible with
# the official image (see deploy/images/mariadb/), target `server`.
build_mariadb() {
  local tag=$1
  step "docker build --target server -t $tag deploy/images/mariadb" \
    docker build --pull=false --target server --label "$CONTEXT_LABEL=$(context_hash "$tag")" \
      -t "$tag" "$IMAGES_DIR/mariadb"
}

# blog/mariadb-galera:10.11 — the same server plus the Galera scripts, target `galera`
# (its first stage is the cached build of mariadb:10.11).
build_mariadb_galera() {
  local tag=$1 revision source
  revision=$(git -C "$HERE" rev-parse HEAD 2>/dev/null || echo unknown)
  source=$(git -C "$HERE" remote get-url origin 2>/dev/null || echo deploy/images/mariadb)
  step "docker build --target galera -t $tag -t ${tag%:*}:10.11-$GALERA_IMAGE_VERSION deploy/images/mariadb" \
    docker build --pull=false --target galera --label "$CONTEXT_LABEL=$(context_hash "$tag")" \
      --build-arg "REVISION=$revision" --build-arg "SOURCE=$source" \
      -t "$tag" -t "${tag%:*}:10.11-$GALERA_IMAGE_VERSION" "$IMAGES_DIR/mariadb"
}

# blog/mariadb-backup:10.11 — mariadb:10.11 with Debian's restic and busybox, for the
# backup jobs (see deploy/images/mariadb-backup/).
build_mariadb_backup() {
  local tag=$1
  step "docker build -t $tag deploy/images/mariadb-backup" \
    docker build --pull=false --label "$CONTEXT_LABEL=$(context_hash "$tag")" -t "$tag" \
      "$IMAGES_DIR/mariadb-backup"
}

# prom/prometheus:vX.Y.Z — Debian's prometheus (and promtool), laid out like the
# public image (see deploy/images/prometheus/).
build_prometheus() {
  local tag=$1
  step "docker build -t $tag deploy/images/prometheus" \
    docker build --pull=false --build-arg "PROMETHEUS_VERSION=$PROMETHEUS_VERSION" \
      -t "$tag" "$IMAGES_DIR/prometheus"
}

# rust:X.Y-slim-bookworm — what the public image of that tag is (Debian's gcc,
# libc6-dev and ca-certificates; rustup's "minimal" profile: rustc, cargo, rust-std
# for x86_64-unknown-linux-gnu; RUSTUP_HOME=/usr/local/rustup,
# CARGO_HOME=/usr/local/cargo, PATH), but with the toolchain copied from this host,
# because static.rust-lang.org is out of reach. Docs, clippy and rustfmt are left out.
build_rust() {
  local tag=$1 sysroot version ctx="$WORKDIR/rust"
  sysroot=${RUST_TOOLCHAIN_DIR:-$(rustc +stable --print sysroot 2>/dev/null || rustc --print sysroot 2>/dev/null || true)}
  [[ -n $sysroot && -x $sysroot/bin/rustc && -x $sysroot/bin/cargo ]] ||
    die "$tag needs a Rust toolchain on this host (rustc and cargo; set RUST_TOOLCHAIN_DIR)"
  version=$("$sysroot/bin/rustc" --version | awk '{ print $2 }')
  [[ $version == "$RUST_VERSION" || $version == "$RUST_VERSION".* ]] ||
    die "$tag: the host's toolchain is rustc $version, the Dockerfile wants $RUST_VERSION (edit ARG RUST_VERSION or install that toolchain)"
  log "  toolchain: $sysroot (rustc $version)"
  step "copy rustc, cargo and rust-std $version (no docs, clippy, rustfmt) into the build context" \
    rust_context "$sysroot" "$version" "$ctx"
  step "docker build -t $tag deploy/images/rust" \
    docker build --pull=false --build-arg "RUST_VERSION=$version" -t "$tag" -f "$IMAGES_DIR/rust/Dockerfile" "$ctx"
  step "remove the build context" rm -rf --one-file-system "$ctx"
}

# rust_context SYSROOT VERSION DIR: DIR/rustup and DIR/cargo as RUSTUP_HOME and
# CARGO_HOME of the image, holding only the files of the minimal profile's components.
rust_context() {
  local sysroot=$1 version=$2 ctx=$3 host=x86_64-unknown-linux-gnu
  local name="$version-$host" keep=(cargo rust-std rustc) lib="lib/rustlib" c rustup_bin
  local toolchain="$ctx/rustup/toolchains/$name"
  rm -rf --one-file-system "$ctx"
  mkdir -p "$toolchain/$lib" "$ctx/cargo/bin"
  for c in "${keep[@]}"; do
    [[ -f $sysroot/$lib/manifest-$c-$host ]] || die "the toolchain at $sysroot has no $c component"
  done
  # each component's manifest lists its files ("file:PATH") and trees ("dir:PATH")
  {
    for c in "${keep[@]}"; do
      sed -n 's/^\(file\|dir\)://p' "$sysroot/$lib/manifest-$c-$host"
      echo "$lib/manifest-$c-$host"
    done
    echo "$lib/rust-installer-version"
    echo "$lib/multirust-channel-manifest.toml"
  } >"$ctx/files"
  tar -C "$sysroot" -cf - -T "$ctx/files" | tar -C "$toolchain" -xf -
  rm -f "$ctx/files"
  printf '%s\n' "${keep[@]/%/-$host}" >"$toolchain/$lib/components"
  {
    echo 'config_version = "1"'
    for c in "${keep[@]}"; do
      printf '\n[[components]]\npkg = "%s"\ntarget = "%s"\nis_extension = false\n' "$c" "$host"
    done
  } >"$toolchain/$lib/multirust-config.toml"
  # rustup and its proxies, as rustup-init installs them; without rustup on this host,
  # plain links to the toolchain's binaries do the same job
  rustup_bin=$(command -v rustup 2>/dev/null || true)
  if [[ -n $rustup_bin ]]; then
    cp "$(readlink -f "$rustup_bin")" "$ctx/cargo/bin/rustup"
    for c in cargo rustc rustdoc rust-gdb rust-gdbgui rust-lldb cargo-clippy cargo-fmt clippy-driver rustfmt; do
      ln -s rustup "$ctx/cargo/bin/$c"
    done
    printf 'version = "12"\ndefault_toolchain = "%s"\nprofile = "minimal"\n' "$name" >"$ctx/rustup/settings.toml"
  else
    for c in cargo rustc rustdoc; do
      ln -s "/usr/local/rustup/toolchains/$name/bin/$c" "$ctx/cargo/bin/$c"
    done
  fi
  [[ -x $toolchain/bin/rustc && -x $toolchain/bin/cargo ]] || die "copying the toolchain failed"
  # the host's own extra CA certificates (e.g. of a TLS-intercepting proxy in front of
  # crates.io), so that cargo in the image reaches the registry as the host's does
  mkdir -p "$ctx/ca-certificates"
  find /usr/local/share/ca-certificates -maxdepth 2 -name '*.crt' -type f \
    -exec cp {} "$ctx/ca-certificates/" \; 2>/dev/null || true
  # writable by any user, as in the public image (here, not in a RUN of the image's
  # Dockerfile, where it would copy the whole toolchain into one more layer)
  chmod -R a+w "$ctx/rustup" "$ctx/cargo"
}

# ------------------------------------------------------------------- main --

image_entry() { # image_entry TAG -> "tag|fn|deps" or fails
  local e
  for e in "${IMAGES[@]}"; do [[ ${e%%|*} == "$1" ]] && { echo "$e"; return 0; }; done
  return 1
}

# ensure TAG: build TAG's base images if missing, then TAG if missing/forced
ensure() {
  local tag=$1 entry fn deps dep t0 old_id
  [[ -n ${BUILT[$tag]:-} ]] && return 0
  entry=$(image_entry "$tag") || die "unknown image '$tag' (known: $(list_tags | tr '\n' ' '))"
  IFS='|' read -r _ fn deps <<<"$entry"
  for dep in $deps; do
    if [[ -n ${REQUESTED[$dep]:-} ]] || ! image_exists "$dep"; then ensure "$dep"; fi
  done
  BUILT[$tag]=1
  if image_exists "$tag" && (( ! FORCE )); then
    if [[ $(context_hash "$tag") == "$(image_context_hash "$tag")" ]]; then
      log "$tag: already present ($(image_summary "$tag")), skipping (use --force to rebuild)"
      return 0
    fi
    log "$tag: present but built from an older deploy/images context: rebuilding"
  fi
  log "$tag: building"
  t0=$(now_us)
  old_id=$(docker image inspect --format '{{.Id}}' "$tag" 2>/dev/null || true)
  "$fn" "$tag"
  log "$tag: built in $(elapsed "$t0") ($(image_summary "$tag"))"
  # --force: drop the image this tag pointed to if nothing else uses it now
  if [[ -n $old_id && $old_id != "$(docker image inspect --format '{{.Id}}' "$tag")" &&
        -z $(docker image inspect --format '{{join .RepoTags ","}}' "$old_id") ]]; then
    docker image rm "$old_id" >/dev/null 2>&1 &&
      log "$tag: removed the previous image ${old_id:7:12}" || true
  fi
}

list_tags() { local e; for e in "${IMAGES[@]}"; do echo "${e%%|*}"; done; }

main() {
  local args=() a t0
  for a in "$@"; do
    case $a in
      --force|-f) FORCE=1 ;;
      --verbose|-v) VERBOSE=1 ;;
      --list) list_tags; exit 0 ;;
      --help|-h) sed -n '2,/^set -E/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
      -*) die "unknown option $a (see --help)" ;;
      *) args+=("$a") ;;
    esac
  done
  (( ${#args[@]} )) || mapfile -t args < <(list_tags)
  declare -gA REQUESTED=()
  for a in "${args[@]}"; do REQUESTED[$a]=1; done

  command -v docker >/dev/null || die "docker CLI not found"
  docker info >/dev/null 2>&1 || die "cannot talk to the Docker engine (is it running? are you in the docker group?)"

  trap 'on_error $LINENO' ERR
  trap cleanup EXIT
  WORKDIR=$(mktemp -d "${TMPDIR:-/tmp}/build-images.XXXXXX")

  t0=$(now_us)
  for a in "${args[@]}"; do ensure "$a"; done
  log "all done in $(elapsed "$t0"): ${args[*]}"
}

main "$@"
