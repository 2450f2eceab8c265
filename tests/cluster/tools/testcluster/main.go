// Command testcluster brings up, and tears down, the Kubernetes control plane
// that pagoda's integration tests run against: etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler and KWOK (a fake kubelet for fake
// nodes), all as ordinary processes on loopback, in the manner of envtest and
// kwokctl's binary runtime.
//
//	testcluster up   --dir DIR --bin BINDIR --stages FILE --rbac FILE [--crds FILE] [--admission FILE] [--nodes N]
//	testcluster down --dir DIR
//	testcluster env  --dir DIR
//	testcluster faultproxy --dir DIR --faults 429,503,drop   (see faultproxy.go)
//
// `up` writes into DIR: pki/ (a fresh CA, serving and client certificates),
// admin.kubeconfig (system:masters), pagoda.kubeconfig (a token of the
// ServiceAccount pagoda-system/pagoda, bound to the rules in --rbac, and
// held by the admission policies in --admission, which are in force before
// up reports ready; the CustomResourceDefinitions of --crds are Established
// by then too), logs/<component>.log, pids/<component>.pid, env (KEY=VALUE
// lines for tests) and the API server's audit log, logs/audit.log (see
// auditPolicy). Every port is one the kernel reported free on 127.0.0.1, so two
// clusters in two directories never collide. `down` stops exactly the
// processes `up` started, by the PIDs it recorded, after checking that each
// PID still runs the binary it started (a recycled PID is left alone).
package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// components in start order; down stops them in reverse.
var components = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"}

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	dir := fs.String("dir", "", "cluster directory (created by up)")
	bin := fs.String("bin", "", "directory holding etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl and kwok")
	stages := fs.String("stages", "", "KWOK stages file")
	rbac := fs.String("rbac", "", "manifest with pagoda's ServiceAccount and its RBAC")
	admission := fs.String("admission", "", "manifest with the admission policies that hold pagoda's ServiceAccount")
	crds := fs.String("crds", "", "manifest with CustomResourceDefinitions, applied after the RBAC")
	nodes := fs.Int("nodes", 3, "number of fake nodes")
	timeout := fs.Duration("timeout", 90*time.Second, "how long up waits for the cluster to be ready")
	faults := fs.String("faults", "", "faultproxy: the faults to inject, e.g. 429,503,drop")
	_ = fs.Parse(os.Args[2:])
	if *dir == "" {
		usage()
	}
	abs, err := filepath.Abs(*dir)
	if err != nil {
		fatal(err)
	}
	for _, p := range []*string{bin, stages, rbac, crds, admission} {
		if *p != "" {
			if *p, err = filepath.Abs(*p); err != nil {
				fatal(err)
			}
		}
	}
	switch os.Args[1] {
	case "up":
		if *bin == "" || *stages == "" || *rbac == "" {
			usage()
		}
		start := time.Now()
		var c *cluster
		// Ports are free when chosen but not reserved: another process can
		// take one before a component binds it. Such a start is retried on
		// new ports.
		for attempt := 1; ; attempt++ {
			c = &cluster{dir: abs, bin: *bin, stages: *stages, rbac: *rbac, crds: *crds, admission: *admission,
				nodes: *nodes}
			err := c.up(*timeout)
			if err == nil {
				break
			}
			fmt.Fprintf(os.Stderr, "testcluster: %v\n", err)
			portTaken := c.logsMention("address already in use")
			_ = down(abs)
			if !portTaken || attempt == 3 {
				c.dumpLogs()
				os.Exit(1)
			}
			fmt.Fprintln(os.Stderr, "testcluster: a port was taken meanwhile; retrying on new ports")
			os.RemoveAll(filepath.Join(abs, "logs"))
		}
		fmt.Printf("testcluster: ready in %.1fs: %s (kubeconfig %s)\n", time.Since(start).Seconds(),
			c.apiURL(), filepath.Join(abs, "admin.kubeconfig"))
	case "down":
		if err := down(abs); err != nil {
			fatal(err)
		}
	case "faultproxy":
		if err := runFaultProxy(abs, *faults); err != nil {
			fatal(err)
		}
	case "env":
		data, err := os.ReadFile(filepath.Join(abs, "env"))
		if err != nil {
			fatal(err)
		}
		os.Stdout.Write(data)
	default:
		usage()
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: testcluster up|down|env|faultproxy --dir DIR [--bin DIR --stages FILE --rbac FILE --crds FILE --admission FILE --nodes N]")
	os.Exit(2)
}

func fatal(err error) {
	fmt.Fprintf(os.Stderr, "testcluster: %v\n", err)
	os.Exit(1)
}

type cluster struct {
	dir, bin, stages, rbac, crds, admission string
	nodes                                   int
	ports                                   map[string]int
}

func (c *cluster) path(parts ...string) string {
	return filepath.Join(append([]string{c.dir}, parts...)...)
}

func (c *cluster) apiURL() string {
	return fmt.Sprintf("https://127.0.0.1:%d", c.ports["apiserver"])
}

func (c *cluster) up(timeout time.Duration) error {
	if _, err := os.Stat(c.path("pids")); err == nil {
		if entries, _ := os.ReadDir(c.path("pids")); len(entries) > 0 {
			return fmt.Errorf("%s already holds a running cluster; run down first", c.dir)
		}
	}
	for _, d := range []string{"pki", "logs", "pids", "etcd-data", "kwok"} {
		if err := os.MkdirAll(c.path(d), 0o700); err != nil {
			return err
		}
	}
	ports, err := freePorts("etcd", "etcd-peer", "apiserver", "controller-manager", "scheduler", "kwok")
	if err != nil {
		return err
	}
	c.ports = ports
	// A new cluster, a new audit log: the API server appends to it.
	if err := os.Remove(c.auditLog()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := os.WriteFile(c.path("audit-policy.yaml"), []byte(auditPolicy), 0o600); err != nil {
		return err
	}
	if err := c.writePKI(); err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	for _, name := range []string{"admin", "controller-manager", "scheduler", "kwok"} {
		if err := c.writeCertKubeconfig(name); err != nil {
			return err
		}
	}
	deadline := time.Now().Add(timeout)

	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", ports["etcd"])
	if err := c.start("etcd",
		"--name=pagoda-test",
		"--data-dir="+c.path("etcd-data"),
		"--listen-client-urls="+etcdURL,
		"--advertise-client-urls="+etcdURL,
		fmt.Sprintf("--listen-peer-urls=http://127.0.0.1:%d", ports["etcd-peer"]),
		fmt.Sprintf("--initial-advertise-peer-urls=http://127.0.0.1:%d", ports["etcd-peer"]),
		fmt.Sprintf("--initial-cluster=pagoda-test=http://127.0.0.1:%d", ports["etcd-peer"]),
		"--unsafe-no-fsync=true",
		"--quota-backend-bytes=4294967296",
		"--log-level=warn",
	); err != nil {
		return err
	}
	if err := waitHTTP("etcd", etcdURL+"/health", nil, deadline, c.exited("etcd")); err != nil {
		return err
	}

	pki := c.path("pki")
	if err := c.start("kube-apiserver",
		"--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", ports["apiserver"]),
		"--endpoint-reconciler-type=none",
		"--cert-dir="+pki,
		"--tls-cert-file="+filepath.Join(pki, "apiserver.crt"),
		"--tls-private-key-file="+filepath.Join(pki, "apiserver.key"),
		"--client-ca-file="+filepath.Join(pki, "ca.crt"),
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+filepath.Join(pki, "sa.pub"),
		"--service-account-signing-key-file="+filepath.Join(pki, "sa.key"),
		"--service-cluster-ip-range=10.96.0.0/16",
		"--authorization-mode=Node,RBAC",
		// Aggregation settings, as kubeadm sets them; without them every
		// component logs that the requestheader CA bundle is missing.
		"--requestheader-client-ca-file="+filepath.Join(pki, "ca.crt"),
		"--requestheader-allowed-names=front-proxy-client",
		"--requestheader-username-headers=X-Remote-User",
		"--requestheader-group-headers=X-Remote-Group",
		"--requestheader-extra-headers-prefix=X-Remote-Extra-",
		"--proxy-client-cert-file="+filepath.Join(pki, "front-proxy-client.crt"),
		"--proxy-client-key-file="+filepath.Join(pki, "front-proxy-client.key"),
		"--allow-privileged=true",
		"--profiling=false",
		// Blocking: each request writes its own event as it completes, so a
		// client that has its answer finds the event in the file (batch mode
		// would hold events back for up to its max wait). One file, never
		// rotated (maxsize 0 opens it plainly, without lumberjack), so an
		// offset a test takes when it starts stays good for the whole run.
		"--audit-policy-file="+c.path("audit-policy.yaml"),
		"--audit-log-path="+c.auditLog(),
		"--audit-log-format=json",
		"--audit-log-mode=blocking",
		"--audit-log-maxsize=0",
		"--v=1",
	); err != nil {
		return err
	}
	admin, err := c.adminHTTP()
	if err != nil {
		return err
	}
	if err := waitHTTP("kube-apiserver", c.apiURL()+"/readyz", admin, deadline, c.exited("kube-apiserver")); err != nil {
		return err
	}

	common := []string{"--bind-address=127.0.0.1", "--leader-elect=false",
		"--authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics",
		"--kube-api-qps=500", "--kube-api-burst=1000"}
	kcmKubeconfig := c.path("controller-manager.kubeconfig")
	if err := c.start("kube-controller-manager", append(common,
		"--kubeconfig="+kcmKubeconfig,
		"--authentication-kubeconfig="+kcmKubeconfig,
		"--authorization-kubeconfig="+kcmKubeconfig,
		fmt.Sprintf("--secure-port=%d", ports["controller-manager"]),
		"--root-ca-file="+filepath.Join(pki, "ca.crt"),
		"--service-account-private-key-file="+filepath.Join(pki, "sa.key"),
		"--use-service-account-credentials=true",
		"--controllers=*",
		"--v=1",
	)...); err != nil {
		return err
	}
	schedKubeconfig := c.path("scheduler.kubeconfig")
	if err := c.start("kube-scheduler", append(common,
		"--kubeconfig="+schedKubeconfig,
		"--authentication-kubeconfig="+schedKubeconfig,
		"--authorization-kubeconfig="+schedKubeconfig,
		fmt.Sprintf("--secure-port=%d", ports["scheduler"]),
		"--v=1",
	)...); err != nil {
		return err
	}
	if err := c.start("kwok",
		"--kubeconfig="+c.path("kwok.kubeconfig"),
		"--config="+c.stages,
		"--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
		"--node-ip=127.0.0.1",
		"--node-name=kwok-controller",
		fmt.Sprintf("--node-port=%d", ports["kwok"]),
		fmt.Sprintf("--server-address=127.0.0.1:%d", ports["kwok"]),
		"--tls-cert-file="+filepath.Join(pki, "admin.crt"),
		"--tls-private-key-file="+filepath.Join(pki, "admin.key"),
		"--node-lease-duration-seconds=40",
	); err != nil {
		return err
	}
	insecure := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} // components' self-signed serving certs
	if err := waitHTTP("kube-controller-manager", fmt.Sprintf("https://127.0.0.1:%d/healthz", ports["controller-manager"]),
		insecure, deadline, c.exited("kube-controller-manager")); err != nil {
		return err
	}
	if err := waitHTTP("kube-scheduler", fmt.Sprintf("https://127.0.0.1:%d/healthz", ports["scheduler"]),
		insecure, deadline, c.exited("kube-scheduler")); err != nil {
		return err
	}

	if err := c.kubectlApply(nodeManifests(c.nodes)); err != nil {
		return fmt.Errorf("creating nodes: %w", err)
	}
	rbac, err := os.ReadFile(c.rbac)
	if err != nil {
		return err
	}
	if err := c.kubectlApply(rbac); err != nil {
		return fmt.Errorf("applying %s: %w", c.rbac, err)
	}
	if c.crds != "" {
		if err := c.applyCRDs(deadline); err != nil {
			return err
		}
	}
	if err := c.waitFor(deadline, "fake nodes Ready", func() (bool, error) {
		out, err := c.kubectl(nil, "get", "nodes", "-l", "type=kwok",
			"-o", `jsonpath={range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{" "}{end}`)
		if err != nil {
			return false, err
		}
		return strings.Count(out, "True") == c.nodes, nil
	}); err != nil {
		return err
	}
	// Pods need their namespace's default ServiceAccount, which a controller makes.
	if err := c.waitFor(deadline, "default ServiceAccount", func() (bool, error) {
		_, err := c.kubectl(nil, "get", "serviceaccount", "default", "-n", "default")
		return err == nil, nil
	}); err != nil {
		return err
	}
	token, err := c.kubectl(nil, "create", "token", "pagoda", "-n", "pagoda-system", "--duration=48h")
	if err != nil {
		return fmt.Errorf("pagoda token: %w", err)
	}
	if err := c.writeTokenKubeconfig("pagoda", strings.TrimSpace(token)); err != nil {
		return err
	}
	if c.admission != "" {
		if err := c.applyAdmission(deadline); err != nil {
			return err
		}
	}
	return c.writeEnv()
}

// applyAdmission applies the admission policies and waits until the API
// server enforces them: a policy takes effect some time after it is stored,
// once the server has compiled it. The probe is a write RBAC grants pagoda
// and the policies must refuse, a ConfigMap in kube-system, as a dry run.
func (c *cluster) applyAdmission(deadline time.Time) error {
	manifest, err := os.ReadFile(c.admission)
	if err != nil {
		return err
	}
	if err := c.kubectlApply(manifest); err != nil {
		return fmt.Errorf("applying %s: %w", c.admission, err)
	}
	return c.waitFor(deadline, "the admission policies to refuse pagoda a ConfigMap in kube-system", func() (bool, error) {
		_, err := c.kubectlAs(c.path("pagoda.kubeconfig"), nil, "create", "configmap", "pagoda-admission-probe",
			"-n", "kube-system", "--dry-run=server")
		if err == nil {
			return false, errors.New("the dry run was allowed")
		}
		if strings.Contains(err.Error(), "ValidatingAdmissionPolicy") && strings.Contains(err.Error(), "denied request") {
			return true, nil
		}
		return false, err
	})
}

// applyCRDs applies the CustomResourceDefinitions and waits until each is
// Established: until then the API server does not serve its kind.
func (c *cluster) applyCRDs(deadline time.Time) error {
	manifest, err := os.ReadFile(c.crds)
	if err != nil {
		return err
	}
	if err := c.kubectlApply(manifest); err != nil {
		return fmt.Errorf("applying %s: %w", c.crds, err)
	}
	return c.waitFor(deadline, "the CustomResourceDefinitions of "+c.crds+" to be Established", func() (bool, error) {
		_, err := c.kubectl(nil, "wait", "--for=condition=Established", "--timeout=5s", "-f", c.crds)
		return err == nil, err
	})
}

// auditPolicy is what the API server writes to logs/audit.log, for tests
// that check what was written to the cluster, by whom and in which order:
// every write, with its user, user agent, object and answer (Metadata), and
// for Leases the objects sent and returned too (holderIdentity,
// leaseTransitions). No reads, and no RequestReceived stage (only the event
// of the answer), which keeps it small on a cluster every integration test
// shares.
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
omitManagedFields: true
rules:
- level: RequestResponse
  verbs: [create, update, patch, delete]
  resources:
  - group: coordination.k8s.io
    resources: [leases]
- level: Metadata
  verbs: [create, update, patch, delete, deletecollection]
- level: None
`

func (c *cluster) auditLog() string {
	return c.path("logs", "audit.log")
}

// freePorts asks the kernel for distinct free ports on 127.0.0.1.
func freePorts(names ...string) (map[string]int, error) {
	ports := map[string]int{}
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	for _, name := range names {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		listeners = append(listeners, l)
		ports[name] = l.Addr().(*net.TCPAddr).Port
	}
	return ports, nil
}

// start runs a component in its own session, detached from this process,
// logging to logs/<name>.log, and records its PID and binary.
func (c *cluster) start(name string, args ...string) error {
	binary := filepath.Join(c.bin, name)
	if _, err := os.Stat(binary); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	logf, err := os.OpenFile(c.path("logs", name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return err
	}
	defer devnull.Close()
	cmd := exec.Command(binary, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devnull, logf, logf
	cmd.Dir = c.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", name, err)
	}
	real, err := filepath.EvalSymlinks(binary)
	if err != nil {
		real = binary
	}
	record := fmt.Sprintf("%d\n%s\n", cmd.Process.Pid, real)
	if err := os.WriteFile(c.path("pids", name+".pid"), []byte(record), 0o600); err != nil {
		return err
	}
	// Reap the child if it exits while we still run, so exited() can see it.
	go func() { _ = cmd.Wait() }()
	return nil
}

// exited reports whether a started component has died (its PID is gone or a zombie).
func (c *cluster) exited(name string) func() bool {
	return func() bool {
		pid, _, err := readPid(c.path("pids", name+".pid"))
		if err != nil {
			return true
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return true
		}
		fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		return len(fields) > 0 && (fields[0] == "Z" || fields[0] == "X")
	}
}

func waitHTTP(name, url string, client *http.Client, deadline time.Time, dead func() bool) error {
	if client == nil {
		client = &http.Client{Timeout: 2 * time.Second}
	}
	var last string
	for time.Now().Before(deadline) {
		if dead() {
			return fmt.Errorf("%s exited during start-up (see its log)", name)
		}
		resp, err := client.Get(url)
		if err == nil {
			body := make([]byte, 512)
			n, _ := resp.Body.Read(body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(body[:n])))
		} else {
			last = err.Error()
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s not healthy at %s before the deadline: %s", name, url, last)
}

func (c *cluster) waitFor(deadline time.Time, what string, cond func() (bool, error)) error {
	var lastErr error
	for time.Now().Before(deadline) {
		ok, err := cond()
		if ok {
			return nil
		}
		lastErr = err
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("timed out waiting for %s (last error: %v)", what, lastErr)
}

func (c *cluster) kubectl(stdin []byte, args ...string) (string, error) {
	return c.kubectlAs(c.path("admin.kubeconfig"), stdin, args...)
}

// kubectlAs runs kubectl with the credentials of kubeconfig.
func (c *cluster) kubectlAs(kubeconfig string, stdin []byte, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(c.bin, "kubectl"),
		append([]string{"--kubeconfig=" + kubeconfig}, args...)...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("kubectl %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

func (c *cluster) kubectlApply(manifest []byte) error {
	_, err := c.kubectl(manifest, "apply", "--server-side", "--field-manager=testcluster", "-f", "-")
	return err
}

// nodeManifests describes fake nodes of 8 cpu and 16 GiB whose allocatable
// share is smaller, as on a real node whose system components reserve part of it.
func nodeManifests(n int) []byte {
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, `---
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-%d
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: "0"
  labels:
    type: kwok
    kubernetes.io/hostname: kwok-node-%d
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    topology.kubernetes.io/zone: zone-%c
status:
  capacity: {cpu: "8", memory: 16Gi, pods: "110", ephemeral-storage: 100Gi}
  allocatable: {cpu: 7500m, memory: 15Gi, pods: "110", ephemeral-storage: 95Gi}
`, i, i, 'a'+i%3)
	}
	return []byte(b.String())
}

func (c *cluster) adminHTTP() (*http.Client, error) {
	cert, err := tls.LoadX509KeyPair(c.path("pki", "admin.crt"), c.path("pki", "admin.key"))
	if err != nil {
		return nil, err
	}
	caPEM, err := os.ReadFile(c.path("pki", "ca.crt"))
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	return &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}}}, nil
}

func (c *cluster) writeEnv() error {
	env := []string{
		"PAGODA_TEST_CLUSTER_DIR=" + c.dir,
		"PAGODA_TEST_SERVER=" + c.apiURL(),
		"PAGODA_TEST_ADMIN_KUBECONFIG=" + c.path("admin.kubeconfig"),
		"PAGODA_TEST_PAGODA_KUBECONFIG=" + c.path("pagoda.kubeconfig"),
		"PAGODA_TEST_KUBECTL=" + filepath.Join(c.bin, "kubectl"),
		"PAGODA_TEST_ETCD_URL=" + fmt.Sprintf("http://127.0.0.1:%d", c.ports["etcd"]),
		"PAGODA_TEST_NODES=" + strconv.Itoa(c.nodes),
		"PAGODA_TEST_AUDIT_LOG=" + c.auditLog(),
	}
	if self, err := os.Executable(); err == nil {
		env = append(env, "PAGODA_TEST_LAUNCHER="+self)
	}
	return os.WriteFile(c.path("env"), []byte(strings.Join(env, "\n")+"\n"), 0o600)
}

func (c *cluster) dumpLogs() {
	for _, name := range components {
		data, err := os.ReadFile(c.path("logs", name+".log"))
		if err != nil || len(data) == 0 {
			continue
		}
		if len(data) > 3000 {
			data = data[len(data)-3000:]
		}
		fmt.Fprintf(os.Stderr, "---- last lines of %s.log ----\n%s\n", name, data)
	}
}

func (c *cluster) logsMention(text string) bool {
	for _, name := range components {
		data, err := os.ReadFile(c.path("logs", name+".log"))
		if err == nil && bytes.Contains(data, []byte(text)) {
			return true
		}
	}
	return false
}

func readPid(path string) (int, string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, "", err
	}
	lines := strings.SplitN(strings.TrimSpace(string(data)), "\n", 2)
	pid, err := strconv.Atoi(strings.TrimSpace(lines[0]))
	if err != nil || pid <= 1 {
		return 0, "", fmt.Errorf("%s: bad pid", path)
	}
	exe := ""
	if len(lines) > 1 {
		exe = strings.TrimSpace(lines[1])
	}
	return pid, exe, nil
}

// down stops every recorded component, newest first: SIGTERM, then SIGKILL
// after a grace period. It removes each pid file once its process is gone.
func down(dir string) error {
	var errs []error
	for i := len(components) - 1; i >= 0; i-- {
		name := components[i]
		pidFile := filepath.Join(dir, "pids", name+".pid")
		pid, exe, err := readPid(pidFile)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !runs(pid, exe) {
			os.Remove(pidFile)
			continue
		}
		_ = syscall.Kill(pid, syscall.SIGTERM)
		deadline := time.Now().Add(10 * time.Second)
		for runs(pid, exe) && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if runs(pid, exe) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			for j := 0; j < 100 && runs(pid, exe); j++ {
				time.Sleep(20 * time.Millisecond)
			}
		}
		if runs(pid, exe) {
			errs = append(errs, fmt.Errorf("%s (pid %d) did not stop", name, pid))
			continue
		}
		os.Remove(pidFile)
	}
	os.RemoveAll(filepath.Join(dir, "etcd-data"))
	return errors.Join(errs...)
}

// runs reports whether pid is alive (not a zombie) and still executes exe.
func runs(pid int, exe string) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	if len(fields) > 0 && (fields[0] == "Z" || fields[0] == "X") {
		return false
	}
	if exe == "" {
		return true
	}
	target, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		return false
	}
	return strings.TrimSuffix(target, " (deleted)") == exe
}

// ---- PKI ----

type keyPair struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func (c *cluster) writePKI() error {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now().Add(-time.Hour)
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "pagoda-test-ca"},
		NotBefore:             now,
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	caCert, _ := x509.ParseCertificate(caDER)
	ca := keyPair{caCert, caKey}
	if err := c.writeCert("ca", caDER, caKey); err != nil {
		return err
	}
	serving := &x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
			"kubernetes.default.svc.cluster.local"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.96.0.1")},
	}
	if err := c.issue("apiserver", serving, ca); err != nil {
		return err
	}
	clients := map[string]pkix.Name{
		"admin":              {CommonName: "kubernetes-admin", Organization: []string{"system:masters"}},
		"controller-manager": {CommonName: "system:kube-controller-manager"},
		"scheduler":          {CommonName: "system:kube-scheduler"},
		"kwok":               {CommonName: "kwok-controller", Organization: []string{"system:masters"}},
		"front-proxy-client": {CommonName: "front-proxy-client"},
	}
	for name, subject := range clients {
		tmpl := &x509.Certificate{Subject: subject, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
		if err := c.issue(name, tmpl, ca); err != nil {
			return err
		}
	}
	// The key that signs and verifies ServiceAccount tokens.
	saKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	pub, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err != nil {
		return err
	}
	if err := writePEM(c.path("pki", "sa.key"), "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(saKey)); err != nil {
		return err
	}
	return writePEM(c.path("pki", "sa.pub"), "PUBLIC KEY", pub)
}

func (c *cluster) issue(name string, tmpl *x509.Certificate, ca keyPair) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now().Add(-time.Hour)
	tmpl.SerialNumber = serial()
	tmpl.NotBefore = now
	tmpl.NotAfter = now.Add(365 * 24 * time.Hour)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return err
	}
	return c.writeCert(name, der, key)
}

func (c *cluster) writeCert(name string, der []byte, key *ecdsa.PrivateKey) error {
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	if err := writePEM(c.path("pki", name+".crt"), "CERTIFICATE", der); err != nil {
		return err
	}
	return writePEM(c.path("pki", name+".key"), "EC PRIVATE KEY", keyDER)
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	return n
}

func writePEM(path, kind string, der []byte) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600)
}

// ---- kubeconfigs ----

func (c *cluster) writeCertKubeconfig(name string) error {
	user := fmt.Sprintf(`    client-certificate: %s
    client-key: %s`, c.path("pki", name+".crt"), c.path("pki", name+".key"))
	return c.writeKubeconfig(name, user)
}

func (c *cluster) writeTokenKubeconfig(name, token string) error {
	return c.writeKubeconfig(name, "    token: "+token)
}

func (c *cluster) writeKubeconfig(name, user string) error {
	config := fmt.Sprintf(`apiVersion: v1
kind: Config
current-context: pagoda-test
clusters:
- name: pagoda-test
  cluster:
    server: %s
    certificate-authority: %s
contexts:
- name: pagoda-test
  context: {cluster: pagoda-test, user: %s}
users:
- name: %s
  user:
%s
`, c.apiURL(), c.path("pki", "ca.crt"), name, name, user)
	return os.WriteFile(c.path(name+".kubeconfig"), []byte(config), 0o600)
}
