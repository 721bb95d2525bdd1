#!/usr/bin/env bash
# build-deb.sh BINARY OUTDIR — the tidegate Debian package (CONTRACT §12 "Packages"), built from a
# built binary with dpkg-deb: writes OUTDIR/tidegate_<version>_<arch>.deb and prints its path.
# `make deb` runs it on build/tidegate; tests/e2e/test_deb.py on TIDEGATE_BIN into a temp dir.
#
#   version  $TIDEGATE_VERSION, else the VERSION file CMake writes beside the binary (build/VERSION)
#   arch     dpkg --print-architecture
#   contents packaging/deb/: the units, the two configurations (conffiles), the maintainer
#            scripts; the binary stripped; /var/lib/tidegate; docs under /usr/share/doc/tidegate
#   Depends  each shared library the binary needs (ELF NEEDED), mapped to its Debian package
#            with dpkg-query -S and to that package's shlibs dependency, plus what the postinst
#            runs (adduser, openssl)
#   TIDEGATE_DEB_COMPRESSION  dpkg-deb -Z (default xz; the test uses zstd: an ASan binary is
#            130 MB stripped and xz takes minutes on it)
# Files are owned by root:root (dpkg-deb --root-owner-group), so neither root nor fakeroot is
# needed. Without a debug symbols package: `objcopy --only-keep-debug` on the unstripped
# binary gives the symbols of a given build.
set -euo pipefail

die() {
  echo "build-deb.sh: $*" >&2
  exit 1
}

[ $# -eq 2 ] || die "usage: build-deb.sh BINARY OUTDIR"
binary="$1"
outdir="$2"
here="$(cd "$(dirname "$0")" && pwd)"
source_dir="$(dirname "$here")"
[ -x "$binary" ] || die "$binary: not an executable"
[ -d "$outdir" ] || die "$outdir: not a directory"

version="${TIDEGATE_VERSION:-}"
if [ -z "$version" ]; then
  version_file="$(dirname "$binary")/VERSION"
  [ -r "$version_file" ] || die "$version_file: missing (CMake writes it; or set TIDEGATE_VERSION)"
  version="$(tr -d '[:space:]' <"$version_file")"
fi
[[ "$version" =~ ^[0-9][A-Za-z0-9.+~-]*$ ]] || die "'$version' is not a Debian version"
arch="$(dpkg --print-architecture)"

# The Debian package owning the shared library PATH (usrmerge: dpkg may know it under /usr).
owning_package() {
  local path="$1" candidate
  for candidate in "$path" "/usr$path" "$(readlink -f "$path")"; do
    if dpkg-query -S "$candidate" 2>/dev/null | awk -F': ' '!/^diversion/ {print $1; exit}' |
      grep .; then
      return 0
    fi
  done
  return 1
}

# The dependency PACKAGE's shlibs file declares for SONAME (libssl.so.3 → "libssl3 (>= 3.0.0)"),
# else the package name alone.
shlibs_dependency() {
  local soname="$1" package="$2" shlibs name so_version dependency=""
  shlibs="$(dpkg-query --control-path "$package" shlibs 2>/dev/null || true)"
  if [[ "$soname" =~ ^(.+)\.so\.([0-9.]+)$ ]] && [ -n "$shlibs" ]; then
    name="${BASH_REMATCH[1]}"
    so_version="${BASH_REMATCH[2]}"
    dependency="$(awk -v n="$name" -v v="$so_version" \
      '$1 !~ /:$/ && $1 == n && $2 == v {$1 = ""; $2 = ""; sub(/^ +/, ""); print; exit}' "$shlibs")"
  fi
  echo "${dependency:-${package%%:*}}"
}

depends() {
  local soname path package ldd_out
  ldd_out="$(ldd "$binary")"
  for soname in $(objdump -p "$binary" | awk '$1 == "NEEDED" {print $2}'); do
    path="$(awk -v l="$soname" '$1 == l && $2 == "=>" {print $3}' <<<"$ldd_out")"
    [ -n "$path" ] || die "$binary needs $soname, which ldd does not find"
    package="$(owning_package "$path")" || die "$path ($soname): no Debian package owns it"
    shlibs_dependency "$soname" "$package"
  done | sort -u | paste -sd, | sed 's/,/, /g'
}

staging="$(mktemp -d)"
trap 'rm -rf "$staging"' EXIT
root="$staging/tidegate"
install -d -m 0755 "$root/DEBIAN" "$root/usr/bin" "$root/lib/systemd/system" \
  "$root/etc/tidegate" "$root/var/lib/tidegate" "$root/usr/share/doc/tidegate"

# Stripped as dh_strip does for an executable.
strip --remove-section=.comment --remove-section=.note -o "$root/usr/bin/tidegate" "$binary"
chmod 0755 "$root/usr/bin/tidegate"
install -m 0644 "$here/deb/tidegate.service" "$here/deb/tidegate-intake.service" \
  "$root/lib/systemd/system/"
install -m 0644 "$here/deb/gateway.yaml" "$here/deb/intake.yaml" "$root/etc/tidegate/"
for doc in configuration.md operator-guide.md intake.md; do
  gzip -9n <"$source_dir/docs/$doc" >"$root/usr/share/doc/tidegate/$doc.gz"
done
gzip -9n <"$source_dir/README.md" >"$root/usr/share/doc/tidegate/README.md.gz"
chmod 0644 "$root"/usr/share/doc/tidegate/*

install -m 0644 "$here/deb/conffiles" "$root/DEBIAN/conffiles"
install -m 0755 "$here/deb/postinst" "$here/deb/prerm" "$here/deb/postrm" "$root/DEBIAN/"
(cd "$root" && find usr lib -type f -print0 | sort -z | xargs -0 md5sum) >"$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/md5sums"

installed_size="$(du -sk --exclude=DEBIAN "$root" | cut -f1)"
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@INSTALLED_SIZE@/$installed_size/" \
  -e "s/@DEPENDS@/$(depends), adduser, openssl/" "$here/deb/control.in" >"$root/DEBIAN/control"
chmod 0644 "$root/DEBIAN/control"

deb="$outdir/tidegate_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Z"${TIDEGATE_DEB_COMPRESSION:-xz}" --build "$root" "$deb" >/dev/null
echo "$deb"
