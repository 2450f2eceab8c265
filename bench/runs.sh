# Shared by the cluster benchmarks' scripts (bench/loop, bench/commit). Sourced.
# runs_main NAME TARGET RUNS -- ARGS...: builds TARGET, then RUNS times starts a
# fresh local control plane, runs build/bench/TARGET against it with pagoda's
# own credentials (and --scratch), and stops it; then prints the median and
# range over the runs of every number of the "RESULT key=value ..." lines.
# KEEP (a directory) keeps every run's files.
runs_main() {
  local name=$1 target=$2 runs=$3
  shift 4  # NAME TARGET RUNS --
  local build work results run scratch
  local root
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  runs_root=$root
  build=${PAGODA_BUILD_DIR:-$root/build}
  cmake -S "$root" -B "$build" -G Ninja >/dev/null
  ninja -C "$build" -j2 "$target" >/dev/null
  work=$(mktemp -d "${TMPDIR:-/tmp}/pagoda-$name-bench.XXXXXX")
  # What the EXIT trap cleans up outlives this function: globals, not locals.
  runs_work=$work
  runs_cluster=""
  runs_cleanup() {
    if [[ -n $runs_cluster ]]; then "$runs_root/tests/cluster/down" "$runs_cluster" >/dev/null 2>&1 || true; fi
    if [[ -n ${KEEP:-} ]]; then mkdir -p "$KEEP" && cp -r "$runs_work"/. "$KEEP"/; fi
    rm -rf "$runs_work"
  }
  trap runs_cleanup EXIT
  trap 'exit 130' INT TERM
  results=$work/results
  : >"$results"
  for run in $(seq 1 "$runs"); do
    runs_cluster=$work/cluster-$run
    scratch=$work/scratch-$run
    mkdir -p "$scratch"
    echo "== run $run: starting a fresh cluster" >&2
    "$root/tests/cluster/up" "$runs_cluster" >"$scratch/env"
    # shellcheck disable=SC1091
    source "$scratch/env"
    "$build/bench/$target" --kubeconfig "$PAGODA_TEST_PAGODA_KUBECONFIG" \
      --context pagoda-test --scratch "$scratch" "$@" 2>"$scratch/log" | tee "$scratch/out"
    grep '^RESULT ' "$scratch/out" | sed 's/^RESULT //' >>"$results"
    "$root/tests/cluster/down" "$runs_cluster" >/dev/null
    runs_cluster=""
  done
  echo
  echo "Summary over $runs runs ($*): median [min .. max]"
  local pair key values count median
  for pair in $(head -1 "$results"); do
    key=${pair%%=*}
    values=$(tr ' ' '\n' <"$results" | grep "^$key=" | cut -d= -f2 | sort -n)
    count=$(wc -l <<<"$values")
    median=$(sed -n "$(((count + 1) / 2))p" <<<"$values")
    printf '  %-24s %10s  [%s .. %s]\n' "$key" "$median" "$(head -1 <<<"$values")" \
      "$(tail -1 <<<"$values")"
  done
}
