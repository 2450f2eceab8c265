// Command etcd is the etcd server, built from its Go module so that the
// integration tests run a version the kube-apiserver supports.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
