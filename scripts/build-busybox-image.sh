#!/bin/sh
# Build the tiny local image ocelot/busybox:latest from Debian's busybox-static, with no
# registry access. The docker executor's integration tests run in it.
#
# usage: scripts/build-busybox-image.sh [--force] [IMAGE]
#   Does nothing (exit 0) when IMAGE already exists, unless --force.
#   Needs: docker CLI + daemon, a static busybox at $BUSYBOX (default /bin/busybox;
#   `apt-get install busybox-static`).
set -eu

force=0
if [ "${1:-}" = "--force" ]; then force=1; shift; fi
image=${1:-ocelot/busybox:latest}
busybox=${BUSYBOX:-/bin/busybox}

if [ "$force" = 0 ] && docker image inspect "$image" >/dev/null 2>&1; then
    echo "$image already exists (use --force to rebuild)"
    exit 0
fi
if ! "$busybox" --list >/dev/null 2>&1; then
    echo "error: $busybox is not a working busybox (apt-get install busybox-static)" >&2
    exit 1
fi
if file -L "$busybox" 2>/dev/null | grep -q 'dynamically linked'; then
    echo "error: $busybox is dynamically linked; the image has no libc (use busybox-static)" >&2
    exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ocelot-busybox.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

mkdir -p "$tmp/bin" "$tmp/tmp" "$tmp/etc" "$tmp/root"
cp "$busybox" "$tmp/bin/busybox"
for applet in $("$busybox" --list); do
    [ "$applet" = busybox ] || ln -s busybox "$tmp/bin/$applet"
done
cat >"$tmp/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
cat >"$tmp/etc/group" <<'GROUP'
root:x:0:
nobody:x:65534:
GROUP
chmod 1777 "$tmp/tmp"
chmod 700 "$tmp/root"

tar -C "$tmp" --numeric-owner --owner=0 --group=0 -c . | docker import \
    --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin' \
    --change 'CMD ["sh"]' \
    - "$image"
echo "built $image"
