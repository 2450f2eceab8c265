#!/usr/bin/env bash
# packaging/image, checked: two builds of one commit give one digest; the
# image is small, says what it runs and as whom, and carries its labels; its
# OCI archive is one skopeo reads; and the Dockerfile makes the same files
# with the same configuration (its stages parsed, its runtime stage's RUN run
# here, on the Debian release the stage names).
#   image_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
source=$2
for tool in umoci skopeo; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool is not installed (scripts/setup installs it)"; exit 1; }
done
source "$source/packaging/lib.sh"
read_version "$build"
root=$(mktemp -d /tmp/pagoda-image-test-XXXXXX)
trap 'rm -rf "$root"' EXIT
fail() {
  echo "FAIL: $*"
  exit 1
}

first=$("$source/packaging/image" --build "$build" --out "$root/a")
second=$("$source/packaging/image" --build "$build" --out "$root/b")
[[ $first == sha256:* && $first == "$second" ]] || fail "two builds gave $first and $second"
cmp -s "$root/a/pagoda-$version.oci.tar" "$root/b/pagoda-$version.oci.tar" ||
  fail "two builds gave different archives"

tree=$root/unpacked
umoci raw unpack --image "$root/a/oci:$version" "$tree" >/dev/null 2>&1 || fail "umoci cannot unpack the image"
bytes=$(du -sb "$tree" | cut -f1)
archive=$(stat -c %s "$root/a/pagoda-$version.oci.tar")
echo "image: $first, $((bytes / 1024)) KiB unpacked, archive $((archive / 1024)) KiB"
((bytes < 40 * 1024 * 1024)) || fail "the image is $bytes bytes unpacked, over 40 MiB"
diff <(list_rootfs "$tree") "$root/a/rootfs.list" >/dev/null || fail "the layer is not rootfs.list"

skopeo inspect --config "oci-archive:$root/a/pagoda-$version.oci.tar" >"$root/config.json" ||
  fail "skopeo cannot read the archive"

# The Dockerfile's runtime stage, run here against this build's binary.
python3 "$source/packaging/dockerfile.py" stage-script "$source/Dockerfile" runtime "$root/docker" \
  >"$root/runtime.sh"
mkdir -p "$root/docker"
cp "$build/cli/pagoda" "$root/docker/pagoda"
sh -eu "$root/runtime.sh" >"$root/runtime.log" 2>&1 || { cat "$root/runtime.log"; fail "the runtime stage fails"; }

python3 "$source/packaging/dockerfile.py" compare "$source/Dockerfile" "$root/docker" "$source" \
  "$root/a/rootfs.list" "$root/config.json" "$version" "$version_commit"
echo "1 passed, 0 failed"
