package main

// faultproxy sits in front of the test cluster's kube-apiserver and answers
// the first requests with the faults it is given, then forwards everything:
//
//	testcluster faultproxy --dir DIR --faults 429,503,drop,500
//
// Each fault is used once, in order, for one request: 429 and 503 answer with
// Retry-After: 1 and a metav1.Status body, 500 with a Status body, drop closes
// the connection without an answer, delay forwards the request after 2 s. Requests pass through unchanged
// (including their bearer token) once the faults are used up. It serves TLS
// with a certificate from the cluster's CA on a free loopback port, prints
// "port N" on its first line of output, logs one line per request and runs
// until it is killed.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

func runFaultProxy(dir, faultList string) error {
	env, err := os.ReadFile(filepath.Join(dir, "env"))
	if err != nil {
		return err
	}
	var upstream string
	for _, line := range strings.Split(string(env), "\n") {
		if v, ok := strings.CutPrefix(line, "PAGODA_TEST_SERVER="); ok {
			upstream = v
		}
	}
	target, err := url.Parse(upstream)
	if err != nil || upstream == "" {
		return fmt.Errorf("no PAGODA_TEST_SERVER in %s/env", dir)
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, "pki", "ca.crt"))
	if err != nil {
		return err
	}
	serving, err := servingCert(dir)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)

	var faults []string
	for _, f := range strings.Split(faultList, ",") {
		if f = strings.TrimSpace(f); f != "" {
			faults = append(faults, f)
		}
	}
	var mu sync.Mutex
	next := 0

	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		fault := ""
		if next < len(faults) {
			fault = faults[next]
			next++
		}
		mu.Unlock()
		fmt.Printf("%s %s %s fault=%s\n", time.Now().Format(time.RFC3339Nano), r.Method, r.URL.RequestURI(), fault)
		status := func(code int, reason string) {
			w.Header().Set("Content-Type", "application/json")
			if code == 429 || code == 503 {
				w.Header().Set("Retry-After", "1")
			}
			w.WriteHeader(code)
			fmt.Fprintf(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","message":"injected by the test proxy","reason":%q,"code":%d}`, reason, code)
		}
		switch fault {
		case "":
			proxy.ServeHTTP(w, r)
		case "delay":
			time.Sleep(2 * time.Second)
			proxy.ServeHTTP(w, r)
		case "429":
			status(429, "TooManyRequests")
		case "503":
			status(503, "ServiceUnavailable")
		case "500":
			status(500, "InternalError")
		case "drop":
			if hj, ok := w.(http.Hijacker); ok {
				if conn, _, err := hj.Hijack(); err == nil {
					conn.Close()
					return
				}
			}
			status(500, "InternalError")
		default:
			status(500, "InternalError")
		}
	})

	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Printf("port %d\n", listener.Addr().(*net.TCPAddr).Port)
	server := &http.Server{
		Handler:   handler,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{serving}},
		// HTTP/1.1 only, so that "drop" can close a connection under a request.
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
	}
	return server.ServeTLS(listener, "", "")
}

// servingCert issues a certificate for 127.0.0.1 from the cluster's CA.
func servingCert(dir string) (tls.Certificate, error) {
	ca, err := tls.LoadX509KeyPair(filepath.Join(dir, "pki", "ca.crt"), filepath.Join(dir, "pki", "ca.key"))
	if err != nil {
		return tls.Certificate{}, err
	}
	caCert, err := x509.ParseCertificate(ca.Certificate[0])
	if err != nil {
		return tls.Certificate{}, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "faultproxy"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, ca.PrivateKey)
	if err != nil {
		return tls.Certificate{}, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.X509KeyPair(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
}
