# Shared by packaging/image and the packaging tests. Sourced, not run.

die() {
  echo "packaging: $*" >&2
  exit 1
}

# read_version BUILD: sets version, version_commit and version_epoch from
# BUILD/generated/version.txt (cmake/version.cmake writes it at every build).
read_version() {
  local file=$1/generated/version.txt key value
  [[ -f $file ]] || die "$file is missing: build pagoda in $1 first"
  version= version_commit= version_epoch=
  while IFS='=' read -r key value; do
    case $key in
      version) version=$value ;;
      commit) version_commit=$value ;;
      epoch) version_epoch=$value ;;
    esac
  done <"$file"
  [[ -n $version && -n $version_epoch ]] || die "$file names no version or date"
}

# package_of PATH: the Debian package that owns PATH, as dpkg knows it. On a
# merged-/usr system the loader finds /lib/X while the package may list
# /usr/lib/X (or the other way round): both are asked.
package_of() {
  local path=$1 alt owner
  case $path in
    /usr/lib/*) alt=${path#/usr} ;;
    /lib/* | /lib64/*) alt=/usr$path ;;
    *) alt=$path ;;
  esac
  for candidate in "$path" "$alt"; do
    owner=$(dpkg-query -S "$candidate" 2>/dev/null | awk -F': ' -v p="$candidate" '$2 == p {print $1; exit}' || true)
    if [[ -n $owner ]]; then
      echo "$owner $candidate"
      return 0
    fi
  done
  return 1
}

# packaged_file PACKAGE PATH: PATH with symlinks resolved inside PACKAGE's
# own file list, checked against its md5sums; prints the real file's path.
packaged_file() {
  local package=$1 path=$2 real sums want have
  real=$(readlink -f "$path")
  # The package lists the real file under either spelling of /usr.
  if ! grep -qxF "$real" "/var/lib/dpkg/info/$package.list"; then
    case $real in
      /usr/lib/*) real=${real#/usr} ;;
      /lib/*) real=/usr$real ;;
    esac
    grep -qxF "$real" "/var/lib/dpkg/info/$package.list" || die "$path: its file is not $package's"
  fi
  sums=/var/lib/dpkg/info/$package.md5sums
  want=$(awk -v p="${real#/}" '$2 == p {print $1; exit}' "$sums")
  have=$(md5sum "$real" | cut -d' ' -f1)
  [[ -n $want && $want == "$have" ]] || die "$real differs from what $package installed (dpkg --verify $package)"
  echo "$real"
}

# shared_libraries BINARY: "SONAME-PATH" for the loader and every library
# BINARY loads, as the loader resolves them on this machine.
shared_libraries() {
  ldd "$1" | awk '
    $2 == "=>" && $3 ~ /^\// {print $3; next}
    $1 ~ /^\// {print $1}'
}

# status_entry PACKAGE: the package's dpkg status paragraph, as distroless
# images keep them in /var/lib/dpkg/status.d for scanners.
status_entry() {
  dpkg-query -s "$1" | awk '/^(Conffiles|Description):/ {skip = 1; next} /^ / && skip {next} {skip = 0; print}'
}

# assemble_rootfs BINARY ROOTFS: the image's root filesystem.
assemble_rootfs() {
  local binary=$1 rootfs=$2 lib owner listed package real arch
  arch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -dumpmachine)
  mkdir -p "$rootfs"/{usr/bin,"usr/lib/$arch",lib64,etc/ssl/certs,usr/share/doc,var/lib/dpkg/status.d,var/lib/pagoda}
  objcopy --strip-unneeded "$binary" "$rootfs/usr/bin/pagoda"
  declare -A packages=()
  while read -r lib; do
    read -r owner listed < <(package_of "$lib") || die "$lib: no Debian package owns it"
    package=${owner%%:*}
    packages[$owner]=$package
    real=$(packaged_file "$owner" "$listed")
    # The loader where the binary's PT_INTERP names it, the libraries in the
    # multiarch folder the loader searches, each under its soname.
    if [[ $lib == /lib64/* ]]; then
      install -m 0755 "$real" "$rootfs$lib"
    else
      install -m 0644 "$real" "$rootfs/usr/lib/$arch/$(basename "$lib")"
    fi
  done < <(shared_libraries "$binary")

  packages[ca-certificates]=ca-certificates
  packages[tzdata]=tzdata
  install -m 0644 /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
  # tzdata's zones, as the package lays them out (links stay links).
  (cd / && dpkg-query -L tzdata | grep '^/usr/share/zoneinfo/' |
    while read -r f; do [[ -f $f || -L $f ]] && echo "${f#/}"; done |
    tar -cf - --no-recursion -T - | tar -C "$rootfs" -xf -)

  for owner in "${!packages[@]}"; do
    package=${packages[$owner]}
    if [[ -f /usr/share/doc/$package/copyright ]]; then
      install -D -m 0644 "/usr/share/doc/$package/copyright" "$rootfs/usr/share/doc/$package/copyright"
    fi
    status_entry "$owner" >"$rootfs/var/lib/dpkg/status.d/$package"
  done
  install -D -m 0644 "$here/debian/copyright" "$rootfs/usr/share/doc/pagoda/copyright"

  # /etc/passwd and /etc/group with the user nonroot, /etc/nsswitch.conf.
  cp -r "$here/rootfs/." "$rootfs/"
  chmod 0644 "$rootfs"/etc/{passwd,group,nsswitch.conf} "$rootfs"/var/lib/dpkg/status.d/*

  # Owners and times: root's and the commit's, except the state directory.
  chown -R 0:0 "$rootfs"
  find "$rootfs" -type d -exec chmod 0755 {} +
  chown 65532:65532 "$rootfs/var/lib/pagoda"
  chmod 0700 "$rootfs/var/lib/pagoda"
  find "$rootfs" -exec touch -h -d "@$version_epoch" {} +
}

# list_rootfs ROOTFS: "TYPE MODE UID:GID /PATH" per file, sorted by path.
list_rootfs() {
  (cd "$1" && find . -mindepth 1 -printf '%y %m %U:%G /%P\n') | LC_ALL=C sort -k4
}

# manifest_digest LAYOUT: the digest of the layout's one image manifest.
manifest_digest() {
  python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["manifests"][0]["digest"])' \
    "$1/index.json"
}
