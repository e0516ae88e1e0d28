package main

import (
	"context"
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
//
// go-fuse's loopback files offer FUSE passthrough: on kernels that have it (6.9 and later) and as root, the kernel
// then reads and writes the backing file itself and the data never reaches the FUSE server. That is no ceiling for
// CassFS, whose data must pass through its server, so by default the files hide their descriptor and every read
// and write is a FUSE request served in user space (-passthrough restores go-fuse's behaviour).
func runLoopback(args []string) error {
	fl := flag.NewFlagSet("loopback", flag.ContinueOnError)
	ttl := fl.Duration("ttl", time.Second, "attribute and entry cache timeout")
	passthrough := fl.Bool("passthrough", false, "let the kernel serve file data from the backing files (FUSE passthrough)")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if fl.NArg() != 2 {
		return fmt.Errorf("usage: cassbench loopback [flags] DIR MOUNTPOINT")
	}
	dir, mnt := fl.Arg(0), fl.Arg(1)
	root, err := newLoopbackRoot(dir, *passthrough)
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

// newLoopbackRoot is fs.NewLoopbackRoot, with passthrough optional.
func newLoopbackRoot(dir string, passthrough bool) (fs.InodeEmbedder, error) {
	if passthrough {
		return fs.NewLoopbackRoot(dir)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(dir, &st); err != nil {
		return nil, err
	}
	r := &fs.LoopbackRoot{Path: dir, Dev: uint64(st.Dev)}
	r.NewNode = func(r *fs.LoopbackRoot, _ *fs.Inode, _ string, _ *syscall.Stat_t) fs.InodeEmbedder {
		return &userspaceNode{fs.LoopbackNode{RootData: r}}
	}
	r.RootNode = r.NewNode(r, nil, "", &st)
	return r.RootNode, nil
}

// userspaceNode is a loopback node whose open files serve their data in user space.
type userspaceNode struct{ fs.LoopbackNode }

var (
	_ = (fs.NodeOpener)((*userspaceNode)(nil))
	_ = (fs.NodeCreater)((*userspaceNode)(nil))
)

func (n *userspaceNode) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	fh, fl, e := n.LoopbackNode.Open(ctx, flags)
	return userspaceFile(fh), fl, e
}

func (n *userspaceNode) Create(ctx context.Context, name string, flags, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	in, fh, fl, e := n.LoopbackNode.Create(ctx, name, flags, mode, out)
	return in, userspaceFile(fh), fl, e
}

// noPassthrough is a loopback file that declines to hand its descriptor to the kernel.
type noPassthrough struct{ *fs.LoopbackFile }

func (noPassthrough) PassthroughFd() (int, bool) { return 0, false }

func userspaceFile(fh fs.FileHandle) fs.FileHandle {
	if lf, ok := fh.(*fs.LoopbackFile); ok {
		return noPassthrough{lf}
	}
	return fh
}
