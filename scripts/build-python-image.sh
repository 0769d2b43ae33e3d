#!/bin/sh
# Build the local image ocelot/python-bench:latest, with no registry access: busybox, git and
# this machine's Python with the packages of a virtualenv, plus every shared library they load.
# `make bench` runs a real test suite (Ocelot's own unit tests) in it, through a build and
# through `docker run`, to compare the two.
#
# usage: scripts/build-python-image.sh [--force] [VENV] [IMAGE]
#   VENV: the virtualenv whose packages go in (default .venv). Does nothing (exit 0) when
#   IMAGE already exists, unless --force. Needs: docker, a static busybox (busybox-static),
#   git, ldd.
set -eu

force=0
if [ "${1:-}" = "--force" ]; then force=1; shift; fi
venv=${1:-.venv}
image=${2:-ocelot/python-bench:latest}
busybox=${BUSYBOX:-/bin/busybox}

if [ "$force" = 0 ] && docker image inspect "$image" >/dev/null 2>&1; then
    echo "$image already exists (use --force to rebuild)"
    exit 0
fi
python=$(readlink -f "$venv/bin/python")
prefix=$("$python" -c 'import sys; print(sys.base_prefix)')
version=$("$python" -c 'import sys; print(f"python{sys.version_info[0]}.{sys.version_info[1]}")')
site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ocelot-python-image.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
mkdir -p "$tmp/bin" "$tmp/tmp" "$tmp/etc" "$tmp/root" "$tmp/opt/python"
cp "$busybox" "$tmp/bin/busybox"
for applet in $("$busybox" --list); do
    [ "$applet" = busybox ] || ln -s busybox "$tmp/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' \
    >"$tmp/etc/passwd"
printf 'root:x:0:\nnobody:x:65534:\n' >"$tmp/etc/group"
chmod 1777 "$tmp/tmp"

# Python: the interpreter and its standard library (without its own test suite), then the
# virtualenv's packages in its site-packages.
cp -a "$prefix/bin/$version" "$tmp/opt/python/python"
mkdir -p "$tmp/opt/python/lib"
tar -C "$prefix/lib" --exclude="$version/test" --exclude="$version/site-packages" \
    -cf - "$version" | tar -C "$tmp/opt/python/lib" -xf -
mkdir -p "$tmp/opt/python/lib/$version/site-packages"
tar -C "$site" -cf - . | tar -C "$tmp/opt/python/lib/$version/site-packages" -xf -
for lib in "$prefix"/lib/libpython*.so*; do
    [ -e "$lib" ] && cp -a "$lib" "$tmp/opt/python/lib/"
done
mkdir -p "$tmp/usr/local/bin"
ln -s /opt/python/python "$tmp/usr/local/bin/python"
ln -s /opt/python/python "$tmp/usr/local/bin/python3"

# git, for test suites that make repositories
mkdir -p "$tmp/usr/bin" "$tmp/usr/lib" "$tmp/usr/share"
cp "$(command -v git)" "$tmp/usr/bin/git"
cp -a /usr/lib/git-core "$tmp/usr/lib/"
[ -d /usr/share/git-core ] && cp -a /usr/share/git-core "$tmp/usr/share/"

# every shared library the binaries and extension modules load, at the same paths
find "$tmp/opt/python" "$tmp/usr/bin" "$tmp/usr/lib/git-core" -type f \
    \( -name '*.so*' -o -perm -u+x \) -print | while read -r file; do
    LD_LIBRARY_PATH="$prefix/lib" ldd "$file" 2>/dev/null | awk '/=> \// {print $3} /^\t\/lib/ {print $1}'
done | sort -u | while read -r lib; do
    mkdir -p "$tmp$(dirname "$lib")"
    cp -L "$lib" "$tmp$lib"
done
for loader in /lib64/ld-linux-x86-64.so.2 /lib/ld-linux-aarch64.so.1; do
    if [ -e "$loader" ]; then mkdir -p "$tmp$(dirname "$loader")"; cp -L "$loader" "$tmp$loader"; fi
done

tar -C "$tmp" --numeric-owner --owner=0 --group=0 -c . | docker import \
    --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin' \
    --change "ENV LD_LIBRARY_PATH=/opt/python/lib" \
    --change 'ENV PYTHONDONTWRITEBYTECODE=1' \
    --change 'CMD ["sh"]' \
    - "$image" >/dev/null
echo "built $image ($(docker image inspect -f '{{.Size}}' "$image") bytes)"
