// Command etcd is the etcd server pinned for coinstream's test API server.
// go.etcd.io/etcd/server/v3 cannot be `go install`ed (its go.mod uses replace),
// so this three-line wrapper builds the same etcdmain entry point.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
