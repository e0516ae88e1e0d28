package fusefs

import (
	"context"

	"github.com/cassfs/cassfs/pkg/store"
)

// detached runs every store call to completion even when the kernel interrupts the request. Go programs are
// signalled all the time (goroutine preemption), and the kernel turns a signal during a FUSE request into an
// interrupt; honouring it would fail mkdir, symlink or write with EINTR, which callers do not retry, and could
// leave an operation half done. Only lock waits (Setlkw) honour interrupts.
type detached struct{ s store.Store }

var _ store.Store = detached{}

func dctx(ctx context.Context) context.Context { return context.WithoutCancel(ctx) }

func (d detached) GetAttr(ctx context.Context, ino store.Ino) (store.Attr, error) {
	return d.s.GetAttr(dctx(ctx), ino)
}
func (d detached) Lookup(ctx context.Context, parent store.Ino, name string) (store.Attr, error) {
	return d.s.Lookup(dctx(ctx), parent, name)
}
func (d detached) Mknod(ctx context.Context, parent store.Ino, name string, n store.NewNode) (store.Attr, error) {
	return d.s.Mknod(dctx(ctx), parent, name, n)
}
func (d detached) Link(ctx context.Context, ino, parent store.Ino, name string) (store.Attr, error) {
	return d.s.Link(dctx(ctx), ino, parent, name)
}
func (d detached) Unlink(ctx context.Context, parent store.Ino, name string) (store.Attr, error) {
	return d.s.Unlink(dctx(ctx), parent, name)
}
func (d detached) Rmdir(ctx context.Context, parent store.Ino, name string) error {
	return d.s.Rmdir(dctx(ctx), parent, name)
}
func (d detached) Rename(ctx context.Context, op store.Ino, on string, np store.Ino, nn string, flags uint32) error {
	return d.s.Rename(dctx(ctx), op, on, np, nn, flags)
}
func (d detached) ReadDir(ctx context.Context, dir store.Ino, after string, limit int) ([]store.Dirent, error) {
	return d.s.ReadDir(dctx(ctx), dir, after, limit)
}
func (d detached) SetAttr(ctx context.Context, ino store.Ino, in store.SetAttrIn) (store.Attr, error) {
	return d.s.SetAttr(dctx(ctx), ino, in)
}
func (d detached) Readlink(ctx context.Context, ino store.Ino) (string, error) {
	return d.s.Readlink(dctx(ctx), ino)
}
func (d detached) GetXattr(ctx context.Context, ino store.Ino, name string) ([]byte, error) {
	return d.s.GetXattr(dctx(ctx), ino, name)
}
func (d detached) SetXattr(ctx context.Context, ino store.Ino, name string, value []byte, flags uint32) error {
	return d.s.SetXattr(dctx(ctx), ino, name, value, flags)
}
func (d detached) ListXattr(ctx context.Context, ino store.Ino) ([]string, error) {
	return d.s.ListXattr(dctx(ctx), ino)
}
func (d detached) RemoveXattr(ctx context.Context, ino store.Ino, name string) error {
	return d.s.RemoveXattr(dctx(ctx), ino, name)
}
func (d detached) Write(ctx context.Context, ino store.Ino, off uint64, data []byte) (store.Attr, error) {
	return d.s.Write(dctx(ctx), ino, off, data)
}
func (d detached) Read(ctx context.Context, ino store.Ino, off uint64, buf []byte) (int, error) {
	return d.s.Read(dctx(ctx), ino, off, buf)
}
func (d detached) Fallocate(ctx context.Context, ino store.Ino, mode uint32, off, length uint64) (store.Attr, error) {
	return d.s.Fallocate(dctx(ctx), ino, mode, off, length)
}
func (d detached) Open(ctx context.Context, ino store.Ino) (store.Attr, error) {
	return d.s.Open(dctx(ctx), ino)
}
func (d detached) Release(ctx context.Context, ino store.Ino) error {
	return d.s.Release(dctx(ctx), ino)
}
func (d detached) StatFS(ctx context.Context) (store.Usage, error) { return d.s.StatFS(dctx(ctx)) }
func (d detached) Close() error                                    { return d.s.Close() }
