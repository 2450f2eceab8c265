#!/usr/bin/env bash
# The image, run as a pod would run it: unpacked into an OCI bundle and
# started with runc as user 65532 with a read-only root, no capabilities, the
# ServiceAccount directory of pagoda-system/pagoda mounted, the API server
# through KUBERNETES_SERVICE_HOST/PORT (the host's network namespace) and a
# config with `inCluster: true`. It releases examples/repo from a Git
# repository mounted read-only, answers /readyz, and stops on SIGTERM. The
# image holds no shell and nothing the user may write outside its state.
#   runs_test.sh BUILD_DIR SOURCE_DIR   (PAGODA_TEST_CLUSTER_DIR set by ctest)
set -euo pipefail
build=$(cd "$1" && pwd)
source=$2
cluster=${PAGODA_TEST_CLUSTER_DIR:?run through ctest, which starts the cluster}
[[ $(id -u) == 0 ]] || { echo "SKIP: runc needs root"; exit 0; }
command -v runc >/dev/null || { echo "FAIL: runc is not installed (scripts/setup installs it)"; exit 1; }
eval "$(sed 's/^/export /' "$cluster/env")"
source "$source/packaging/lib.sh"
source "$source/tests/integration/example_repo.sh"

root=$(mktemp -d /tmp/pagoda-runs-XXXXXX)
id=pagoda-runs-$$-$RANDOM
runc_pid=
suffix=
kubectl() { "$PAGODA_TEST_KUBECTL" --kubeconfig "$PAGODA_TEST_ADMIN_KUBECONFIG" "$@"; }
cleanup() {
  if [[ -n $runc_pid ]]; then
    runc kill "$id" KILL 2>/dev/null || true
    wait "$runc_pid" 2>/dev/null || true
  fi
  runc delete --force "$id" 2>/dev/null || true
  if [[ -n $suffix ]]; then
    kubectl delete namespace "shop-web-$suffix" "orders-$suffix" --ignore-not-found --wait=false >/dev/null || true
  fi
  rm -rf "$root"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*"
  [[ -f $root/pagoda.log ]] && tail -40 "$root/pagoda.log"
  exit 1
}

"$source/packaging/image" --build "$build" --out "$root/image" >/dev/null
read_version "$build"
bundle=$root/bundle
umoci unpack --image "$root/image/oci:$version" "$bundle" >/dev/null

# Nothing to run commands with, and nothing the user may change.
shells=$(cd "$bundle/rootfs" && find . \( -name sh -o -name bash -o -name dash -o -name ash -o -name zsh -o -name ksh -o -name busybox \))
[[ -z $shells ]] || fail "the image holds a shell: $shells"
programs=$(cd "$bundle/rootfs" && find . -type f -perm /111 | LC_ALL=C sort | tr '\n' ' ')
[[ $programs == "./lib64/ld-linux-x86-64.so.2 ./usr/bin/pagoda " ]] || fail "programs in the image: $programs"
writable=$(cd "$bundle/rootfs" && find . ! -type l \( -uid 65532 -o -gid 65532 -o -perm -0002 \) ! -path './var/lib/pagoda')
[[ -z $writable ]] || fail "writable by the user outside its state: $writable"

# What a pod has: the ServiceAccount's token, the cluster's CA, its namespace.
sa=$root/serviceaccount
mkdir -p "$sa"
sed -n 's/^ *token: *//p' "$PAGODA_TEST_PAGODA_KUBECONFIG" | head -1 >"$sa/token"
[[ -s $sa/token ]] || fail "the test cluster's pagoda kubeconfig has no token"
cp "$cluster/pki/ca.crt" "$sa/ca.crt"
echo -n pagoda-system >"$sa/namespace"
[[ $PAGODA_TEST_SERVER =~ ^https://([0-9.]+):([0-9]+)$ ]] || fail "server $PAGODA_TEST_SERVER"
api_host=${BASH_REMATCH[1]} api_port=${BASH_REMATCH[2]}

# The repository, with apps of names of their own and no holds.
repo=$root/repo
suffix=$RANDOM$RANDOM
make_example_repo "$source" "$repo" "$suffix"
head=$(git -C "$repo" rev-parse HEAD)
# Git reads a local repository as its owner only.
chown -R 65532:65532 "$repo"

mkdir -p "$root/config" "$root/state"
chown 65532:65532 "$root/state"
chmod 0700 "$root/state"
cat >"$root/config/config.yaml" <<EOF
repo: /srv/repo
interval: 1s
driftInterval: 5s
stateDir: /var/lib/pagoda
http: {listen: "127.0.0.1:0"}
clusters:
  test: {inCluster: true}
  prod: {inCluster: true}
EOF
chmod -R a+rX "$root/config" "$sa"

python3 - "$bundle/config.json" "$root" "$api_host" "$api_port" <<'EOF'
import json, sys
path, root, host, port = sys.argv[1:]
c = json.load(open(path))
p = c["process"]
p["terminal"] = False
p["user"] = {"uid": 65532, "gid": 65532, "additionalGids": []}
p["noNewPrivileges"] = True
p["capabilities"] = {k: [] for k in ("bounding", "effective", "inheritable", "permitted", "ambient")}
p["env"] += [f"KUBERNETES_SERVICE_HOST={host}", f"KUBERNETES_SERVICE_PORT={port}"]
c["root"]["readonly"] = True
# The host's network namespace: the API server and /readyz on its loopback.
c["linux"]["namespaces"] = [n for n in c["linux"]["namespaces"] if n["type"] != "network"]
c["mounts"] = [m for m in c["mounts"] if m["destination"] != "/var/lib/pagoda"]
def bind(src, dst, ro):
    c["mounts"].append({"destination": dst, "type": "bind", "source": src,
                        "options": ["rbind", "nosuid", "nodev"] + (["ro"] if ro else ["rw"])})
bind(root + "/state", "/var/lib/pagoda", False)
bind(root + "/config", "/etc/pagoda", True)
bind(root + "/serviceaccount", "/var/run/secrets/kubernetes.io/serviceaccount", True)
bind(root + "/repo", "/srv/repo", True)
json.dump(c, open(path, "w"), indent=1)
EOF

runc run --bundle "$bundle" "$id" </dev/null >"$root/pagoda.log" 2>&1 &
runc_pid=$!

port=
for _ in $(seq 1 300); do
  port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$root/pagoda.log" | head -1)
  [[ -n $port ]] && break
  kill -0 "$runc_pid" 2>/dev/null || fail "the container exited"
  sleep 0.1
done
[[ -n $port ]] || fail "the daemon never said where it listens"

# The four environments released, as the ServiceAccount, from the commit.
releases() { "$build/cli/pagoda" releases --json --state-dir "$root/state" 2>/dev/null || true; }
for _ in $(seq 1 600); do
  done_count=$(releases | grep -o "\"outcome\":\"succeeded\"" | wc -l || true)
  [[ $done_count -ge 4 ]] && break
  kill -0 "$runc_pid" 2>/dev/null || fail "the container exited"
  sleep 0.2
done
[[ $done_count -ge 4 ]] || fail "the image did not release the four environments"
releases | grep -q "\"to\":{\"id\":\"$head\"" || fail "the releases are not of commit $head"
ready=
for _ in $(seq 1 100); do
  ready=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz" || true)
  [[ $ready == 200 ]] && break
  sleep 0.1
done
[[ $ready == 200 ]] || fail "/readyz answered $ready"
# Read whole before it is searched: grep -q would leave at the first match
# and, under pipefail, kubectl's SIGPIPE would fail the line.
deployments=$(kubectl get deployments -n "shop-web-$suffix" -o name)
grep -q '^deployment.apps/prod-' <<<"$deployments" || fail "no prod Deployment of shop-web"
[[ $(stat -c %u "$root/state/journal") == 65532 ]] || fail "the journal is not the user's"

# SIGTERM, as the kubelet sends it: a clean stop, well within its grace.
runc kill "$id" TERM
stopped=
for _ in $(seq 1 300); do
  kill -0 "$runc_pid" 2>/dev/null || { stopped=1; break; }
  sleep 0.1
done
[[ -n $stopped ]] || fail "still running 30 s after SIGTERM"
code=0
wait "$runc_pid" || code=$?
runc_pid=
[[ $code == 0 ]] || fail "the daemon exited $code on SIGTERM"

echo "1 passed, 0 failed"
