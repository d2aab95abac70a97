package main

import (
	"flag"
	"fmt"
	"github.com/proxyarp/proxyarp/bench/internal/labnet"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// runRef is the reference responder: the least a userspace responder can
// do. A blocking recvfrom on a locked OS thread (no netpoller, no poll),
// a check of the target against a fixed set, a reply written from the same
// thread. It marks the userspace limit in the same run as the others.
func runRef(args []string) error {
	fs := flag.NewFlagSet("ref", flag.ExitOnError)
	iface := fs.String("iface", "eth0", "interface to answer on")
	answer := fs.String("answer", "192.0.2.2", "addresses to answer for: A,B-C,...")
	dur := fs.Duration("for", 10*time.Minute, "exit after this long")
	rcvbuf := fs.Int("rcvbuf", 8<<20, "receive buffer (SO_RCVBUFFORCE), as proxyarp's")
	fs.Parse(args)
	if err := labnet.RefuseRootNamespace(); err != nil {
		return err
	}
	addrs, err := labnet.ParseAddrs(*answer, 65536)
	if err != nil {
		return fmt.Errorf("--answer: %w", err)
	}
	owned := make(map[netip.Addr]bool, len(addrs))
	for _, a := range addrs {
		owned[a] = true
	}
	ifi, err := net.InterfaceByName(*iface)
	if err != nil {
		return err
	}
	mac := ifi.HardwareAddr
	runtime.LockOSThread()
	fd, err := openPacket(ifi, unix.ETH_P_ARP, filterARP(arpRequest), *rcvbuf)
	if err != nil {
		return err
	}
	var replies atomic.Uint64
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		select {
		case <-sig:
		case <-time.After(min(*dur, maxDuration)):
		}
		_, drops := stats(fd)
		fmt.Fprintf(os.Stderr, "arpgen ref: stopped, replies=%d socket_drops=%d\n", replies.Load(), drops)
		os.Exit(0)
	}()
	buf := make([]byte, 256)
	out := make([]byte, frameLen)
	for {
		n, ptype, err := recvFrom(fd, buf, 0) // blocking
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("recvfrom: %w", err)
		}
		if ptype == packetOutgoing || ptype == 3 /* OTHERHOST */ {
			continue
		}
		f, ok := parseARP(buf[:n])
		if !ok || f.op != arpRequest || !owned[f.tpa] {
			continue
		}
		// Reply in place of a template: Ethernet to the requester.
		copy(out[0:6], f.ethSrc)
		copy(out[6:12], mac)
		out[12], out[13] = 0x08, 0x06
		copy(out[14:22], []byte{0, 1, 8, 0, 6, 4, 0, 2})
		copy(out[22:28], mac)
		copy(out[28:32], buf[38:42]) // spa = requested target
		copy(out[32:38], f.sha)
		copy(out[38:42], buf[28:32]) // tpa = requester's address
		if write(fd, out) == nil {
			replies.Add(1)
		}
	}
}
