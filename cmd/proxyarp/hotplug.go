package main

import (
	"context"
	"errors"
	"io"
	"net/netip"

	"github.com/proxyarp/proxyarp/hotplug"
	"github.com/proxyarp/proxyarp/routes"
)

// hotplugMain is `proxyarp hotplug`: see package hotplug, which the lean
// proxyarp-hotplug binary runs too.
func hotplugMain(args []string, stdout, stderr io.Writer) error {
	return runHotplug(context.Background(), args, stdout, hotplug.DefaultDeps(stderr))
}

// runHotplug runs hotplug.Run and maps its errors to this package's:
// hotplug.ErrHelp to errHelp, a *hotplug.UsageError to a *usageError (same
// message, exit code 2).
func runHotplug(ctx context.Context, args []string, stdout io.Writer, deps hotplug.Deps) error {
	err := hotplug.Run(ctx, args, stdout, deps)
	var uerr *hotplug.UsageError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, hotplug.ErrHelp):
		return errHelp
	case errors.As(err, &uerr):
		return &usageError{msg: err.Error()}
	}
	return err
}

// netlinkKernel is the host's Kernel.
func netlinkKernel() (routes.Kernel, func(), error) { return hotplug.NetlinkKernel() }

// parseEntry parses ADDR or ADDR/LEN (IPv4); an address means ADDR/32.
func parseEntry(s string) (netip.Prefix, error) { return hotplug.ParseEntry(s) }
