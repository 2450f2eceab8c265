// pagoda-apilimit measures how fast one Kubernetes API server takes
// server-side applies of a given set of objects: the ceiling that pagoda's
// first sync of the same objects is compared with (bench/limit/run).
//
//	pagoda-apilimit --kubeconfig FILE [--context NAME] --objects LIST.json
//	                --workers N[,N...] [--field-manager NAME] [--prefix P]
//
// LIST.json is a v1 List, as `pagoda render -o json` prints it. For each
// worker count, in the order given, one round applies every object once with
// server-side apply (force, one field manager), through client-go's dynamic
// client with client-side rate limiting off, so that only the server's own
// flow control (API Priority and Fairness) holds it back: first all the
// Namespaces, then, once every one exists, all the other objects, each phase
// spread over N workers. Every round writes new objects: round R renames each
// namespace NAME to P<R>-NAME (its app.kubernetes.io/name label too, as
// pagoda's admission policy wants) and moves the namespaced objects with it.
// Objects that appear twice in the List (the Namespace of an app rendered for
// two clusters) are applied once.
//
// A 429 that client-go does not retry itself is retried here after its
// Retry-After; every 429 the server sends is counted. After a round the
// program waits until the controllers have seen its Deployments (status
// observedGeneration), so that the next round starts on a quiet server.
// Each round prints its wall time, objects per second, the latency of one
// apply (median, 99th percentile, mean by kind), requests and 429s. The last
// line, "RESULT key=value ...", is for scripts.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/flowcontrol"
)

// object is one entry of the List, with the resource it is written to.
type object struct {
	u          *unstructured.Unstructured
	gvr        schema.GroupVersionResource
	namespaced bool
}

// counts are the HTTP requests and the 429 responses that pass through
// client-go's transport, its own retries included.
type counts struct{ requests, tooMany atomic.Int64 }

type counting struct {
	next http.RoundTripper
	*counts
}

func (c counting) RoundTrip(req *http.Request) (*http.Response, error) {
	c.requests.Add(1)
	resp, err := c.next.RoundTrip(req)
	if err == nil && resp.StatusCode == http.StatusTooManyRequests {
		c.tooMany.Add(1)
	}
	return resp, err
}

type round struct {
	workers                      int
	objects                      int
	wall, nsWall                 time.Duration
	p50, p99                     time.Duration
	requests, status429, retries int64
	settle                       time.Duration
	byKind                       string // mean latency of each kind
}

func (r round) perSecond() float64 { return float64(r.objects) / r.wall.Seconds() }

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig file (required)")
	kubeContext := flag.String("context", "", "context of the kubeconfig (default: its current one)")
	objectsFile := flag.String("objects", "", "v1 List of the objects, as `pagoda render -o json` prints it (required)")
	workersList := flag.String("workers", "1,2,4,8,16,32,64", "worker counts, one round each, comma-separated")
	fieldManager := flag.String("field-manager", "pagoda-apilimit", "field manager of the applies")
	prefix := flag.String("prefix", "limit", "round R writes into namespaces named <prefix><R>-<namespace>")
	settleTimeout := flag.Duration("settle-timeout", 2*time.Minute, "longest wait for the controllers after a round")
	flag.Parse()
	if *kubeconfig == "" || *objectsFile == "" || flag.NArg() != 0 {
		flag.Usage()
		os.Exit(2)
	}
	var workers []int
	for _, s := range strings.Split(*workersList, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			fail("--workers: %q is not a positive number", s)
		}
		workers = append(workers, n)
	}

	ctx := context.Background()
	config, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: *kubeconfig},
		&clientcmd.ConfigOverrides{CurrentContext: *kubeContext}).ClientConfig()
	if err != nil {
		fail("%v", err)
	}
	// No client-side rate limit: the server's flow control decides.
	config.QPS, config.Burst = 1e6, 1e6
	config.RateLimiter = flowcontrol.NewFakeAlwaysRateLimiter()
	config.WarningHandler = rest.NoWarnings{}
	counter := &counts{}
	config.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		return counting{next: rt, counts: counter}
	}
	client, err := dynamic.NewForConfig(config)
	if err != nil {
		fail("%v", err)
	}
	disco, err := discovery.NewDiscoveryClientForConfig(config)
	if err != nil {
		fail("%v", err)
	}
	groups, err := restmapper.GetAPIGroupResourcesWithContext(ctx, discovery.ToDiscoveryInterfaceWithContext(disco))
	if err != nil {
		fail("discovery: %v", err)
	}
	mapper := restmapper.NewDiscoveryRESTMapper(groups)

	namespaces, others, err := load(*objectsFile, mapper)
	if err != nil {
		fail("%s: %v", *objectsFile, err)
	}
	if len(namespaces) == 0 {
		fail("%s: no Namespace in the List", *objectsFile)
	}
	fmt.Printf("%d objects (%d Namespaces, %d namespaced), server %s, field manager %s, no client-side rate limit\n",
		len(namespaces)+len(others), len(namespaces), len(others), config.Host, *fieldManager)
	fmt.Printf("%7s %8s %8s %8s %10s %8s %8s %9s %6s %8s %8s\n", "workers", "objects", "wall_s",
		"ns_s", "objects/s", "p50_ms", "p99_ms", "requests", "429s", "retries", "settle_s")

	var rounds []round
	for i, n := range workers {
		p := fmt.Sprintf("%s%d-", *prefix, i+1)
		first := p + namespaces[0].u.GetName()
		if _, err := client.Resource(namespaces[0].gvr).Get(ctx, first, metav1.GetOptions{}); err == nil {
			fail("namespace %s exists already: this server has had a run with --prefix %s; pass another", first, *prefix)
		} else if !apierrors.IsNotFound(err) {
			fail("%v", err)
		}
		r, err := applyRound(ctx, client, counter, n, rename(namespaces, p), rename(others, p), *fieldManager)
		if err != nil {
			fail("round with %d workers: %v", n, err)
		}
		r.settle, err = settle(ctx, client, p, *settleTimeout)
		if err != nil {
			fail("after the round with %d workers: %v", n, err)
		}
		fmt.Printf("%7d %8d %8.2f %8.2f %10.1f %8.1f %8.1f %9d %6d %8d %8.1f\n", r.workers, r.objects,
			r.wall.Seconds(), r.nsWall.Seconds(), r.perSecond(), ms(r.p50), ms(r.p99), r.requests,
			r.status429, r.retries, r.settle.Seconds())
		fmt.Printf("%7s mean ms by kind: %s\n", "", r.byKind)
		rounds = append(rounds, r)
	}

	best := rounds[0]
	var total429, totalRetries int64
	var perRound []string
	for _, r := range rounds {
		if r.perSecond() > best.perSecond() {
			best = r
		}
		total429 += r.status429
		totalRetries += r.retries
		perRound = append(perRound, fmt.Sprintf("w%d=%.1f", r.workers, r.perSecond()))
	}
	fmt.Printf("best: %.1f objects/s with %d workers (%d objects in %.2f s)\n",
		best.perSecond(), best.workers, best.objects, best.wall.Seconds())
	fmt.Printf("RESULT best_workers=%d best_objects_per_s=%.1f best_wall_s=%.3f objects=%d 429s=%d retries=%d %s\n",
		best.workers, best.perSecond(), best.wall.Seconds(), best.objects, total429, totalRetries,
		strings.Join(perRound, " "))
}

// load reads the List and sorts its objects into Namespaces and the rest,
// each object once.
func load(path string, mapper meta.RESTMapper) (namespaces, others []object, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	var list struct {
		Kind  string                   `json:"kind"`
		Items []map[string]interface{} `json:"items"`
	}
	if err := json.Unmarshal(data, &list); err != nil {
		return nil, nil, err
	}
	if list.Kind != "List" {
		return nil, nil, fmt.Errorf("kind %q, not List", list.Kind)
	}
	seen := map[string]bool{}
	for _, item := range list.Items {
		u := &unstructured.Unstructured{Object: item}
		gvk := u.GroupVersionKind()
		key := gvk.String() + "/" + u.GetNamespace() + "/" + u.GetName()
		if seen[key] {
			continue
		}
		seen[key] = true
		m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			return nil, nil, err
		}
		o := object{u: u, gvr: m.Resource, namespaced: m.Scope.Name() == meta.RESTScopeNameNamespace}
		switch {
		case gvk.Group == "" && gvk.Kind == "Namespace":
			namespaces = append(namespaces, o)
		case o.namespaced:
			others = append(others, o)
		default:
			return nil, nil, fmt.Errorf("%s %s: only Namespaces may be cluster-scoped", gvk.Kind, u.GetName())
		}
	}
	return namespaces, others, nil
}

// rename returns copies of the objects moved to the namespaces prefix+NAME.
func rename(objects []object, prefix string) []object {
	out := make([]object, len(objects))
	for i, o := range objects {
		u := o.u.DeepCopy()
		if o.namespaced {
			u.SetNamespace(prefix + u.GetNamespace())
		} else {
			old := u.GetName()
			u.SetName(prefix + old)
			if labels := u.GetLabels(); labels["app.kubernetes.io/name"] == old {
				labels["app.kubernetes.io/name"] = prefix + old
				u.SetLabels(labels)
			}
		}
		out[i] = object{u: u, gvr: o.gvr, namespaced: o.namespaced}
	}
	return out
}

// applyRound applies the Namespaces, then the rest, with n workers each.
func applyRound(ctx context.Context, client dynamic.Interface, counter *counts, n int,
	namespaces, others []object, fieldManager string) (round, error) {
	r := round{workers: n, objects: len(namespaces) + len(others)}
	requests0, tooMany0 := counter.requests.Load(), counter.tooMany.Load()
	var retries atomic.Int64
	var latencies []time.Duration
	total := map[string]time.Duration{}
	count := map[string]int{}
	var kinds []string
	start := time.Now()
	for phase, objects := range [][]object{namespaces, others} {
		l, err := applyAll(ctx, client, n, objects, fieldManager, &retries)
		if err != nil {
			return r, err
		}
		latencies = append(latencies, l...)
		for i, o := range objects {
			kind := o.u.GetKind()
			if count[kind] == 0 {
				kinds = append(kinds, kind)
			}
			total[kind] += l[i]
			count[kind]++
		}
		if phase == 0 {
			r.nsWall = time.Since(start)
		}
	}
	r.wall = time.Since(start)
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	r.p50 = latencies[len(latencies)/2]
	r.p99 = latencies[len(latencies)*99/100]
	r.requests = counter.requests.Load() - requests0
	r.status429 = counter.tooMany.Load() - tooMany0
	r.retries = retries.Load()
	var means []string
	for _, kind := range kinds {
		means = append(means, fmt.Sprintf("%s %.1f", kind, ms(total[kind]/time.Duration(count[kind]))))
	}
	r.byKind = strings.Join(means, ", ")
	return r, nil
}

// applyAll applies the objects with n workers and returns each apply's
// latency (retries included); the first error stops it.
func applyAll(ctx context.Context, client dynamic.Interface, n int, objects []object,
	fieldManager string, retries *atomic.Int64) ([]time.Duration, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var next atomic.Int64
	latencies := make([]time.Duration, len(objects))
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for w := 0; w < n; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(objects) || ctx.Err() != nil {
					return
				}
				t := time.Now()
				if err := apply(ctx, client, objects[i], fieldManager, retries); err != nil {
					errs <- err
					cancel()
					return
				}
				latencies[i] = time.Since(t)
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}
	return latencies, nil
}

// apply server-side-applies one object, retrying a 429 after its Retry-After
// (client-go retries one with a Retry-After itself, up to ten times, before
// it returns the error).
func apply(ctx context.Context, client dynamic.Interface, o object, fieldManager string,
	retries *atomic.Int64) error {
	var ri dynamic.ResourceInterface = client.Resource(o.gvr)
	if o.namespaced {
		ri = client.Resource(o.gvr).Namespace(o.u.GetNamespace())
	}
	opts := metav1.ApplyOptions{FieldManager: fieldManager, Force: true}
	for attempt := 0; ; attempt++ {
		_, err := ri.Apply(ctx, o.u.GetName(), o.u, opts)
		if err == nil || !apierrors.IsTooManyRequests(err) || attempt >= 20 {
			if err != nil {
				return fmt.Errorf("%s %s/%s: %w", o.u.GetKind(), o.u.GetNamespace(), o.u.GetName(), err)
			}
			return nil
		}
		retries.Add(1)
		delay := time.Second
		if s, ok := apierrors.SuggestsClientDelay(err); ok && s > 0 {
			delay = time.Duration(s) * time.Second
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
	}
}

// settle waits until every Deployment in the namespaces of prefix has been
// seen by the deployment controller, or until the timeout.
func settle(ctx context.Context, client dynamic.Interface, prefix string, timeout time.Duration) (time.Duration, error) {
	deployments := schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	start := time.Now()
	for {
		behind := 0
		cont := ""
		for {
			list, err := client.Resource(deployments).List(ctx, metav1.ListOptions{Limit: 1000, Continue: cont})
			if err != nil {
				return 0, err
			}
			for _, d := range list.Items {
				if !strings.HasPrefix(d.GetNamespace(), prefix) {
					continue
				}
				observed, _, _ := unstructured.NestedInt64(d.Object, "status", "observedGeneration")
				if observed < d.GetGeneration() {
					behind++
				}
			}
			if cont = list.GetContinue(); cont == "" {
				break
			}
		}
		if behind == 0 {
			return time.Since(start), nil
		}
		if time.Since(start) > timeout {
			fmt.Fprintf(os.Stderr, "pagoda-apilimit: %d Deployments still unseen by the controllers after %s; going on\n",
				behind, timeout)
			return time.Since(start), nil
		}
		time.Sleep(time.Second)
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "pagoda-apilimit: "+format+"\n", args...)
	os.Exit(1)
}
