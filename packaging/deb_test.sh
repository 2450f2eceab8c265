#!/usr/bin/env bash
# The Debian package, made with cpack from BUILD_DIR, installed on this
# machine and purged again: lintian finds no error in it; once installed the
# binary runs and says its version, systemd accepts the unit, the user and
# its state directory exist, and the config is a conffile that a remove
# keeps; a purge leaves nothing but the user (Debian keeps system users).
#   deb_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
source=$2
[[ $(id -u) == 0 ]] || { echo "SKIP: dpkg -i needs root"; exit 0; }
prefix=$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' "$build/CMakeCache.txt")
[[ $prefix == /usr ]] || { echo "SKIP: $build installs in $prefix; configure it with -DCMAKE_INSTALL_PREFIX=/usr"; exit 0; }
if dpkg-query -W -f='${Status}' pagoda 2>/dev/null | grep -q installed; then
  echo "SKIP: a pagoda package is installed on this machine already"
  exit 0
fi
for tool in cpack lintian systemd-analyze; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool is not installed (scripts/setup installs it)"; exit 1; }
done
source "$source/packaging/lib.sh"
read_version "$build"

root=$(mktemp -d /tmp/pagoda-deb-test-XXXXXX)
installed=
cleanup() {
  if [[ -n $installed ]]; then dpkg --purge pagoda >/dev/null 2>&1 || true; fi
  rm -rf "$root"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*"
  exit 1
}

(cd "$root" && cpack -G DEB --config "$build/CPackConfig.cmake" -B "$root/out" >"$root/cpack.log" 2>&1) ||
  { cat "$root/cpack.log"; fail "cpack failed"; }
deb=$(ls "$root"/out/pagoda_*.deb)
echo "package: $(basename "$deb"), $(($(stat -c %s "$deb") / 1024)) KiB"
dpkg-deb -f "$deb" Depends | grep -q 'libgit2-1.5 (>=' || fail "Depends is not computed: $(dpkg-deb -f "$deb" Depends)"
[[ $(dpkg-deb --ctrl-tarfile "$deb" | tar -xOf - ./conffiles) == /etc/pagoda/config.yaml ]] ||
  fail "the config is not a conffile"
# lintian refuses nothing, and says so as its exit code.
lintian --fail-on error "$deb" 2>&1 | grep -v 'running with root privileges' || true
lintian --fail-on error "$deb" >/dev/null 2>&1 || fail "lintian reports errors"
contents=$(dpkg-deb -c "$deb")  # whole: grep -q on a pipe would SIGPIPE it under pipefail
grep -q ' ./usr/share/man/man1/pagoda.1.gz$' <<<"$contents" || fail "no pagoda(1) in the package"
files=$(dpkg-deb -c "$deb" | awk '$1 !~ /^d/ {sub(/^\./, "", $6); print $6}')

installed=1
dpkg -i "$deb" >"$root/dpkg.log" 2>&1 || { cat "$root/dpkg.log"; fail "dpkg -i failed"; }
[[ $(/usr/bin/pagoda --version | head -1) == "pagoda $version" ]] || fail "pagoda --version: $(/usr/bin/pagoda --version)"
unit=/usr/lib/systemd/system/pagoda.service
out=$(systemd-analyze verify "$unit" 2>&1) || fail "systemd-analyze verify: $out"
[[ $out != *pagoda.service:* ]] || fail "systemd-analyze warns about the unit: $out"
getent passwd pagoda >/dev/null || fail "no user pagoda"
[[ $(stat -c '%U %a' /var/lib/pagoda) == "pagoda 700" ]] || fail "/var/lib/pagoda: $(stat -c '%U %a' /var/lib/pagoda)"
# The service's user may read its config and nothing of root's.
setpriv --reuid=pagoda --regid=pagoda --clear-groups cat /etc/pagoda/config.yaml >/dev/null ||
  fail "the user cannot read its config"

# A remove keeps the edited config and the state; a purge takes both.
echo "# edited" >>/etc/pagoda/config.yaml
touch /var/lib/pagoda/journal
dpkg -r pagoda >"$root/dpkg.log" 2>&1 || { cat "$root/dpkg.log"; fail "dpkg -r failed"; }
[[ ! -e /usr/bin/pagoda ]] || fail "dpkg -r left the binary"
grep -q '^# edited' /etc/pagoda/config.yaml || fail "dpkg -r did not keep the edited config"
dpkg --purge pagoda >"$root/dpkg.log" 2>&1 || { cat "$root/dpkg.log"; fail "dpkg --purge failed"; }
installed=
for f in $files /etc/pagoda /var/lib/pagoda /usr/share/doc/pagoda; do
  [[ ! -e $f ]] || fail "the purge left $f"
done
getent passwd pagoda >/dev/null || fail "the purge removed the user, which Debian keeps"
echo "1 passed, 0 failed"
