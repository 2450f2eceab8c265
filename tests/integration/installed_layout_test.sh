#!/usr/bin/env bash
# The installed layout, run as an unprivileged user against the local
# control plane: `cmake --install` into a scratch root, then the installed
# binary, as nobody, releases a Git repository made from examples/repo.
#   installed_layout_test.sh BUILD_DIR SOURCE_DIR   (PAGODA_TEST_CLUSTER_DIR set by ctest)
set -euo pipefail
build=$1
source=$2
cluster=${PAGODA_TEST_CLUSTER_DIR:?run through ctest, which starts the cluster}
[[ $(id -u) == 0 ]] || { echo "SKIP: needs root to act as another user"; exit 0; }
eval "$(sed 's/^/export /' "$cluster/env")"
source "$source/tests/integration/example_repo.sh"

root=$(mktemp -d /tmp/pagoda-installed-XXXXXX)
daemon_pid=
cleanup() {
  if [[ -n $daemon_pid ]]; then kill "$daemon_pid" 2>/dev/null || true; wait "$daemon_pid" 2>/dev/null || true; fi
  rm -rf "$root"
}
trap cleanup EXIT

DESTDIR=$root/install cmake --install "$build" --prefix /usr >/dev/null
pagoda=$root/install/usr/bin/pagoda
[[ -x $pagoda && -f $root/install/usr/lib/systemd/system/pagoda.service ]] || {
  echo "FAIL: the install layout lacks the binary or the unit"
  exit 1
}

# What the service would have: a config, a kubeconfig it may read, a state
# directory of its own; the repository readable by anyone.
work=$root/work
mkdir -p "$work/state"
suffix=$RANDOM$RANDOM
make_example_repo "$source" "$work/repo" "$suffix"
# The service's own copies of what it reads: the kubeconfig and the CA.
cp "$cluster/pki/ca.crt" "$work/ca.crt"
sed "s|certificate-authority: .*|certificate-authority: $work/ca.crt|" "$PAGODA_TEST_PAGODA_KUBECONFIG" >"$work/kubeconfig"
cat >"$work/config.yaml" <<EOF
repo: $work/repo
interval: 1s
driftInterval: 5s
stateDir: $work/state
http: {listen: "127.0.0.1:0"}
clusters:
  test: {kubeconfig: $work/kubeconfig}
  prod: {kubeconfig: $work/kubeconfig}
EOF
chmod -R a+rX "$root"
# A local repository is read as its owner (git refuses repositories of
# other users), as a remote one would be fetched.
chown -R nobody:nogroup "$work/state" "$work/kubeconfig" "$work/config.yaml" "$work/ca.crt" "$work/repo"
chmod 0600 "$work/kubeconfig"

# As systemd starts it: the user's own HOME, not root's.
mkdir -p "$work/home" && chown nobody:nogroup "$work/home"
export HOME=$work/home
setpriv --reuid=nobody --regid=nogroup --clear-groups --inh-caps=-all \
  "$pagoda" daemon --config "$work/config.yaml" 2>"$root/daemon.log" &
daemon_pid=$!

as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$pagoda" "$@" --state-dir "$work/state"; }
for _ in $(seq 1 300); do
  done_count=$(as_nobody releases --json 2>/dev/null | grep -o '"outcome":"succeeded"' | wc -l || true)
  [[ $done_count -ge 4 ]] && break
  kill -0 "$daemon_pid" 2>/dev/null || { echo "FAIL: the daemon exited"; cat "$root/daemon.log"; exit 1; }
  sleep 0.2
done
if [[ ${done_count:-0} -lt 4 ]]; then
  echo "FAIL: the installed daemon did not release the four environments as nobody"
  cat "$root/daemon.log"
  exit 1
fi
owner=$(stat -c %U "$work/state/journal")
[[ $owner == nobody ]] || { echo "FAIL: the journal belongs to $owner, not nobody"; exit 1; }
[[ $(stat -c %a "$work/state/control.sock") == 600 ]] || { echo "FAIL: the control socket is not owner-only"; exit 1; }
as_nobody status
"$PAGODA_TEST_KUBECTL" --kubeconfig "$PAGODA_TEST_ADMIN_KUBECONFIG" delete namespace \
  "shop-web-$suffix" "orders-$suffix" --wait=false >/dev/null
echo "1 passed, 0 failed"
