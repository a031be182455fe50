// Command pause holds a pod's namespaces open until the runtime stops the sandbox, like the
// upstream pause container, which the local cluster cannot pull (there is no registry here).
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	<-stop
}
