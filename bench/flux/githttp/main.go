// Command githttp serves the Git repositories under a folder over Git's smart
// HTTP protocol, by running `git http-backend` as a CGI program, for
// bench/flux/run: Flux's source-controller clones over HTTP(S) or SSH, not
// over git://. It listens on a port the kernel picks on 127.0.0.1, writes
// that port to --port-file once it accepts connections, logs one line per
// request to standard error, and serves until it is sent SIGTERM or SIGINT.
//
//	githttp --root DIR --port-file FILE
package main

import (
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	root := flag.String("root", "", "folder holding the repositories (GIT_PROJECT_ROOT)")
	portFile := flag.String("port-file", "", "file to write the chosen port to")
	flag.Parse()
	if *root == "" || *portFile == "" {
		fmt.Fprintln(os.Stderr, "usage: githttp --root DIR --port-file FILE")
		os.Exit(2)
	}
	git, err := exec.LookPath("git")
	if err != nil {
		log.Fatal(err)
	}
	backend := &cgi.Handler{
		Path: git,
		Args: []string{"http-backend"},
		Env:  []string{"GIT_PROJECT_ROOT=" + *root, "GIT_HTTP_EXPORT_ALL=1"},
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		backend.ServeHTTP(w, r)
		log.Printf("%s %s?%s %.1fms", r.Method, r.URL.Path, r.URL.RawQuery,
			float64(time.Since(start).Microseconds())/1000)
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	tmp := *portFile + ".tmp"
	if err := os.WriteFile(tmp, []byte(fmt.Sprintf("%d\n", port)), 0o644); err != nil {
		log.Fatal(err)
	}
	if err := os.Rename(tmp, *portFile); err != nil {
		log.Fatal(err)
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-stop
		l.Close()
	}()
	if err := http.Serve(l, handler); err != nil && !errors.Is(err, net.ErrClosed) {
		log.Fatal(err)
	}
}
