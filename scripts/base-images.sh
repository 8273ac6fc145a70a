#!/usr/bin/env bash
# Stand-ins for the public base images, for a machine that reaches no image registry (the
# development machines here): builds them from local parts and tags them with the very names the
# Dockerfile and docker-compose.yml default to, so `docker build` and Compose find them without a
# pull. An operator with registry access never needs this script.
#
#   debian:bookworm-slim     Debian bookworm from `debootstrap` (minbase), plus curl and
#                            ca-certificates, so the runtime stage needs no network to install
#                            curl (its health check)
#   rust:1.95-slim-bookworm  that Debian plus gcc and libc6-dev (as the official image), and this
#                            machine's own Rust toolchain (the one `rustc` resolves to here)
#   node:20-bookworm-slim    that Debian plus this machine's own Node and npm: Debian's nodejs is
#                            18, and the dashboard needs Node >= 20.19 (frontend/package.json)
#   redis:7.0-bookworm       that Debian plus Debian's redis-server (7.0), started like the
#                            official image: in /data, protected mode off
#
# The names are read from the Dockerfile's `ARG …_IMAGE=` defaults and the redis service's
# `image:` in docker-compose.yml. An image that already exists is kept; FORCE=1 rebuilds.
# Needs root (debootstrap, chroot), debootstrap and a reachable Debian mirror (DEBIAN_MIRROR).
# Work files go to target/base-images (BASE_IMAGES_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."

DOCKER=${DOCKER:-docker}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
WORK=${BASE_IMAGES_DIR:-$PWD/target/base-images}
FORCE=${FORCE:-0}

default_arg() { sed -nE "s/^ARG $1=(.+)$/\1/p" Dockerfile | head -n1; }
DEBIAN_IMAGE=$(default_arg DEBIAN_IMAGE)
RUST_IMAGE=$(default_arg RUST_IMAGE)
NODE_IMAGE=$(default_arg NODE_IMAGE)
REDIS_IMAGE=$(sed -nE 's/^ *image: *"?\$\{REDIS_IMAGE:-([^}]+)\}"?.*$/\1/p' docker-compose.yml | head -n1)
for name in DEBIAN_IMAGE RUST_IMAGE NODE_IMAGE REDIS_IMAGE; do
    [ -n "${!name}" ] || { echo "error: cannot read the default $name" >&2; exit 1; }
done

if [ "$(id -u)" != 0 ]; then echo "error: run as root (debootstrap and chroot need it)" >&2; exit 1; fi
command -v debootstrap >/dev/null || { echo "error: debootstrap is missing: apt-get install -y debootstrap" >&2; exit 1; }

have() { [ "$FORCE" != 1 ] && "$DOCKER" image inspect "$1" >/dev/null 2>&1; }
log() { printf '==> %s\n' "$*"; }

mkdir -p "$WORK"
ROOTFS_TAR=$WORK/debian-bookworm.tar

# A fresh copy of the Debian tree, to add packages or files to before it is imported.
unpack() {
    rm -rf "${WORK:?}/${1:?}"
    mkdir -p "$WORK/$1"
    tar -C "$WORK/$1" -xf "$ROOTFS_TAR"
    echo "$WORK/$1"
}

# apt-get inside a tree; its daemons must not start (policy-rc.d) and it needs a resolver.
chroot_apt() {
    local root=$1
    shift
    cp /etc/resolv.conf "$root/etc/resolv.conf"
    printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
    chmod +x "$root/usr/sbin/policy-rc.d"
    chroot "$root" /usr/bin/env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    chroot "$root" /usr/bin/env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "$@" >/dev/null
    finish "$root"
}

finish() {
    local root=$1
    rm -rf "$root/var/lib/apt/lists/"* "$root/var/cache/apt/"*.bin "$root/var/cache/apt/archives/"*.deb \
        "$root/usr/sbin/policy-rc.d"
    : >"$root/etc/resolv.conf"
}

# `docker import` of a tree, with the image settings given as --change lines.
import() {
    local root=$1 tag=$2
    shift 2
    local changes=()
    for c in "$@"; do changes+=(--change "$c"); done
    tar -C "$root" -c . | "$DOCKER" import "${changes[@]}" - "$tag" >/dev/null
    rm -rf "$root"
    log "tagged $tag"
}

if [ ! -f "$ROOTFS_TAR" ] || [ "$FORCE" = 1 ]; then
    log "debootstrap bookworm from $MIRROR (a few minutes)"
    rm -rf "$WORK/rootfs"
    mkdir -p "$WORK/debs"
    debootstrap --variant=minbase --include=ca-certificates,curl --cache-dir="$WORK/debs" \
        bookworm "$WORK/rootfs" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 ||
        { tail -n 20 "$WORK/debootstrap.log" >&2; exit 1; }
    finish "$WORK/rootfs"
    # A deb line, as the official image has, so `apt-get` works in images built from it.
    echo "deb $MIRROR bookworm main" >"$WORK/rootfs/etc/apt/sources.list"
    tar -C "$WORK/rootfs" -cf "$ROOTFS_TAR" .
    rm -rf "$WORK/rootfs"
fi

if have "$DEBIAN_IMAGE"; then log "$DEBIAN_IMAGE exists"; else
    import "$(unpack debian)" "$DEBIAN_IMAGE" 'CMD ["bash"]'
fi

if have "$REDIS_IMAGE"; then log "$REDIS_IMAGE exists"; else
    root=$(unpack redis)
    chroot_apt "$root" redis-server
    mkdir -p "$root/data"
    chroot "$root" chown redis:redis /data
    # The official image runs `redis-server …` with protected mode off, as the redis user.
    cat >"$root/usr/local/bin/docker-entrypoint.sh" <<'EOF'
#!/bin/sh
set -e
if [ "${1#-}" != "$1" ]; then set -- redis-server "$@"; fi
if [ "$1" = redis-server ]; then shift; set -- redis-server --protected-mode no "$@"; fi
exec "$@"
EOF
    chmod +x "$root/usr/local/bin/docker-entrypoint.sh"
    import "$root" "$REDIS_IMAGE" 'WORKDIR /data' 'USER redis' 'EXPOSE 6379' 'VOLUME /data' \
        'ENTRYPOINT ["docker-entrypoint.sh"]' 'CMD ["redis-server"]'
fi

if have "$RUST_IMAGE"; then log "$RUST_IMAGE exists"; else
    rustc_path=$(rustup which rustc 2>/dev/null || command -v rustc)
    toolchain=$(dirname "$(dirname "$(readlink -f "$rustc_path")")")
    version=$("$toolchain/bin/rustc" --version | awk '{print $2}')
    wanted=$(sed -nE 's/^rust:([0-9.]+).*/\1/p' <<<"$RUST_IMAGE")
    case "$version" in
        "$wanted" | "$wanted".*) ;;
        *) echo "warning: this machine's rustc is $version, tagged as $RUST_IMAGE" >&2 ;;
    esac
    root=$(unpack rust)
    chroot_apt "$root" gcc libc6-dev
    log "copying the Rust toolchain $toolchain ($version), without its documentation"
    mkdir -p "$root/usr/local/rust" "$root/usr/local/cargo/bin"
    tar -C "$toolchain" --exclude=./share/doc --exclude=./share/html -c . | tar -C "$root/usr/local/rust" -x
    import "$root" "$RUST_IMAGE" 'ENV CARGO_HOME=/usr/local/cargo' \
        'ENV PATH=/usr/local/cargo/bin:/usr/local/rust/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        'CMD ["bash"]'
fi

if have "$NODE_IMAGE"; then log "$NODE_IMAGE exists"; else
    node=$(readlink -f "$(command -v node)")
    npm_dir=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")
    wanted=$(sed -nE 's/^node:([0-9]+).*/\1/p' <<<"$NODE_IMAGE")
    case "$("$node" --version)" in
        v"$wanted".*) ;;
        *) echo "warning: this machine's node is $("$node" --version), tagged as $NODE_IMAGE" >&2 ;;
    esac
    root=$(unpack node)
    log "copying this machine's node ($("$node" --version)) and npm ($(npm --version))"
    install -D -m 0755 "$node" "$root/usr/local/bin/node"
    mkdir -p "$root/usr/local/lib/node_modules"
    cp -a "$npm_dir" "$root/usr/local/lib/node_modules/npm"
    ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
    ln -s ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
    import "$root" "$NODE_IMAGE" 'CMD ["node"]'
fi
