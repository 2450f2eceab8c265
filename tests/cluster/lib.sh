# Shared by tests/cluster/{build,up,down}. Sourced, not run.
#
# The control-plane binaries are built from the Go modules under tools/ into
# a cache outside the work tree, one folder per pinned set of versions, so a
# fresh clone on the same machine starts warm:
#   ${PAGODA_CACHE:-~/.cache/pagoda}/cluster/<versions>-<hash>/bin

cluster_src=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
pagoda_cache=${PAGODA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pagoda}

# Go: the machine's toolchain; modules and build cache under the pagoda cache.
if ! command -v go >/dev/null 2>&1 && [[ -x /usr/local/go/bin/go ]]; then
  export PATH=/usr/local/go/bin:$PATH
fi
export GOMODCACHE=${GOMODCACHE:-$pagoda_cache/go/mod}
export GOCACHE=${GOCACHE:-$pagoda_cache/go/build}
export GOFLAGS=${GOFLAGS:-}
export GOTOOLCHAIN=${GOTOOLCHAIN:-local}

module_version() {  # module_version DIR MODULE -> the version DIR/go.mod requires
  awk -v m="$2" '$1 == m && $2 ~ /^v/ {print $2; exit} $1 == "require" && $2 == m {print $3; exit}' "$1/go.mod"
}

kube_version=$(module_version "$cluster_src/tools/kube" k8s.io/kubernetes)
etcd_version=$(module_version "$cluster_src/tools/etcd" go.etcd.io/etcd/server/v3)
kwok_version=$(module_version "$cluster_src/tools/kwok" sigs.k8s.io/kwok)
# Any change to the pinned modules gives a new folder; the launcher, which
# changes more often and builds in seconds, has folders of its own.
tools_hash=$(cd "$cluster_src/tools" && cat kube/go.* etcd/go.* etcd/*.go kwok/go.* | sha256sum | cut -c1-12)
cluster_bin=$pagoda_cache/cluster/k8s-$kube_version-etcd-$etcd_version-kwok-$kwok_version-$tools_hash/bin
launcher_hash=$(cd "$cluster_src/tools/testcluster" && cat go.mod *.go | sha256sum | cut -c1-12)
launcher_bin=$pagoda_cache/cluster/testcluster-$launcher_hash/bin
