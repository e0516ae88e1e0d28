package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// runLoopback serves DIR through go-fuse's loopback filesystem at MOUNTPOINT (the FUSE ceiling) until SIGTERM or
// SIGINT, then unmounts. It prints "mounted" once the mount is live. The kernel cache timeouts match CassFS's
// defaults (1 s) so that the two differ by what is behind FUSE, not by caching policy.
func runLoopback(args []string) error {
	fl := flag.NewFlagSet("loopback", flag.ContinueOnError)
	ttl := fl.Duration("ttl", time.Second, "attribute and entry cache timeout")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if fl.NArg() != 2 {
		return fmt.Errorf("usage: cassbench loopback [flags] DIR MOUNTPOINT")
	}
	dir, mnt := fl.Arg(0), fl.Arg(1)
	root, err := fs.NewLoopbackRoot(dir)
	if err != nil {
		return err
	}
	opts := &fs.Options{
		AttrTimeout:  ttl,
		EntryTimeout: ttl,
		MountOptions: fuse.MountOptions{
			DirectMount: true,
			FsName:      dir,
			Name:        "loopback",
			MaxWrite:    1 << 20,
		},
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sig)
	server, err := fs.Mount(mnt, root, opts)
	if err != nil {
		return fmt.Errorf("mount %s: %w", mnt, err)
	}
	fmt.Println("mounted")
	done := make(chan struct{})
	go func() { server.Wait(); close(done) }()
	select {
	case <-sig:
	case <-done:
		return nil
	}
	for i := 0; ; i++ {
		err := server.Unmount()
		if err == nil {
			break
		}
		if i == 50 {
			return fmt.Errorf("unmount %s: %w", mnt, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	<-done
	return nil
}
