// Command proxyarp-hotplug is `proxyarp hotplug` alone: the Xen network
// hotplug script for routed guests, run by /etc/xen/scripts/vif-proxyarp.
// It links package hotplug (routes, xenstore) and none of the daemon's
// packet capture, metrics or configuration, so that it starts in a fraction
// of the time the full proxyarp binary takes.
//
// Usage and exit codes are those of `proxyarp hotplug`: 0 success (or
// --help), 1 failure, 2 a bad command line.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/proxyarp/proxyarp/hotplug"
)

func main() {
	os.Exit(execute(os.Args[1:], os.Stdout, os.Stderr))
}

func execute(args []string, stdout, stderr io.Writer) int {
	err := hotplug.Run(context.Background(), args, stdout, hotplug.DefaultDeps(stderr))
	var uerr *hotplug.UsageError
	switch {
	case err == nil, errors.Is(err, hotplug.ErrHelp):
		return 0
	case errors.As(err, &uerr):
		fmt.Fprintf(stderr, "proxyarp: %v\n", err)
		return 2
	default:
		fmt.Fprintf(stderr, "proxyarp: %v\n", err)
		return 1
	}
}
