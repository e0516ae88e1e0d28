package fdkeeper

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// request and reply are the messages of the protocol.
type request struct {
	Op   string `json:"op"` // keep, drop, get, list
	Dir  string `json:"dir,omitempty"`
	Meta []byte `json:"meta,omitempty"`
}

type reply struct {
	Err  string   `json:"err,omitempty"`
	Meta []byte   `json:"meta,omitempty"`
	Dirs []string `json:"dirs,omitempty"`
	// Found is false for a get of a dir that is not kept.
	Found bool `json:"found,omitempty"`
}

const maxMsg = 64 << 10

// ReapInterval is how often the keeper looks for connections the kernel has aborted.
var ReapInterval = 5 * time.Second

// Keeper holds connections by mount point. It is safe for concurrent use.
type Keeper struct {
	log   *slog.Logger
	mu    sync.Mutex
	conns map[string]*kept
}

type kept struct {
	f    *os.File
	meta []byte
}

// NewKeeper returns an empty Keeper.
func NewKeeper(log *slog.Logger) *Keeper {
	if log == nil {
		log = slog.Default()
	}
	return &Keeper{log: log, conns: map[string]*kept{}}
}

// Serve listens on the unix socket path (replacing a stale socket file) until ctx ends, then closes the socket
// and every kept descriptor.
func (k *Keeper) Serve(ctx context.Context, path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	_ = os.Remove(path)
	l, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: path, Net: "unixpacket"})
	if err != nil {
		return err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return err
	}
	k.log.Info("fdkeeper listening", "socket", path)
	go func() { <-ctx.Done(); l.Close() }()
	go k.reap(ctx)
	var wg sync.WaitGroup
	defer func() {
		wg.Wait()
		k.mu.Lock()
		for d, c := range k.conns {
			c.f.Close()
			delete(k.conns, d)
		}
		k.mu.Unlock()
	}()
	for {
		c, err := l.AcceptUnix()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		wg.Add(1)
		go func() { defer wg.Done(); k.serveConn(c) }()
	}
}

// Len reports how many connections are kept.
func (k *Keeper) Len() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.conns)
}

func (k *Keeper) serveConn(c *net.UnixConn) {
	defer c.Close()
	if err := checkPeer(c); err != nil {
		k.log.Warn("fdkeeper: refused client", "err", err)
		return
	}
	buf := make([]byte, maxMsg)
	oob := make([]byte, unix.CmsgSpace(4*4))
	for {
		n, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
		if err != nil || n == 0 {
			return
		}
		fds := receivedFDs(oob[:oobn])
		var req request
		var rep reply
		var out *os.File
		if err := json.Unmarshal(buf[:n], &req); err != nil {
			rep.Err = "bad request: " + err.Error()
		} else {
			out, rep = k.handle(req, fds)
		}
		for _, fd := range fds { // handle dups what it keeps
			unix.Close(fd)
		}
		b, _ := json.Marshal(rep)
		var rights []byte
		if out != nil {
			rights = unix.UnixRights(int(out.Fd()))
		}
		_, _, err = c.WriteMsgUnix(b, rights, nil)
		if out != nil {
			out.Close()
		}
		if err != nil {
			return
		}
	}
}

func (k *Keeper) handle(req request, fds []int) (*os.File, reply) {
	dir := filepath.Clean(req.Dir)
	k.mu.Lock()
	defer k.mu.Unlock()
	switch req.Op {
	case "keep":
		if req.Dir == "" || len(fds) != 1 {
			return nil, reply{Err: "keep needs a dir and one descriptor"}
		}
		fd, err := unix.FcntlInt(uintptr(fds[0]), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			return nil, reply{Err: err.Error()}
		}
		if old := k.conns[dir]; old != nil {
			old.f.Close()
		}
		k.conns[dir] = &kept{f: os.NewFile(uintptr(fd), "fuse:"+dir), meta: req.Meta}
		k.log.Info("keeping FUSE connection", "dir", dir, "kept", len(k.conns))
		return nil, reply{}
	case "drop":
		if old := k.conns[dir]; old != nil {
			old.f.Close()
			delete(k.conns, dir)
			k.log.Info("dropped FUSE connection", "dir", dir, "kept", len(k.conns))
		}
		return nil, reply{}
	case "get":
		c := k.conns[dir]
		if c == nil {
			return nil, reply{}
		}
		if aborted(c.f) { // unmounted meanwhile: a server taking it over would serve nothing
			c.f.Close()
			delete(k.conns, dir)
			k.log.Info("dropped aborted FUSE connection", "dir", dir, "kept", len(k.conns))
			return nil, reply{}
		}
		fd, err := unix.FcntlInt(c.f.Fd(), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			return nil, reply{Err: err.Error()}
		}
		return os.NewFile(uintptr(fd), "fuse:"+dir), reply{Found: true, Meta: c.meta}
	case "list":
		dirs := make([]string, 0, len(k.conns))
		for d := range k.conns {
			dirs = append(dirs, d)
		}
		sort.Strings(dirs)
		return nil, reply{Dirs: dirs}
	}
	return nil, reply{Err: fmt.Sprintf("unknown op %q", req.Op)}
}

// reap drops connections the kernel has aborted (unmounted without a drop).
func (k *Keeper) reap(ctx context.Context) {
	t := time.NewTicker(ReapInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		k.reapOnce()
	}
}

func (k *Keeper) reapOnce() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.conns) == 0 {
		return
	}
	dirs := make([]string, 0, len(k.conns))
	pfd := make([]unix.PollFd, 0, len(k.conns))
	for d, c := range k.conns {
		dirs = append(dirs, d)
		pfd = append(pfd, unix.PollFd{Fd: int32(c.f.Fd())})
	}
	if _, err := unix.Poll(pfd, 0); err != nil {
		return
	}
	for i, p := range pfd {
		if p.Revents&(unix.POLLERR|unix.POLLHUP|unix.POLLNVAL) != 0 {
			k.conns[dirs[i]].f.Close()
			delete(k.conns, dirs[i])
			k.log.Info("dropped aborted FUSE connection", "dir", dirs[i], "kept", len(k.conns))
		}
	}
}

// aborted reports whether the kernel has aborted the connection f (or f is no longer pollable).
func aborted(f *os.File) bool {
	p := []unix.PollFd{{Fd: int32(f.Fd())}}
	if _, err := unix.Poll(p, 0); err != nil {
		return false
	}
	return p[0].Revents&(unix.POLLERR|unix.POLLHUP|unix.POLLNVAL) != 0
}

// checkPeer admits only clients running as our user.
func checkPeer(c *net.UnixConn) error {
	raw, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return err
	}
	if cerr != nil {
		return cerr
	}
	if int(cred.Uid) != os.Geteuid() {
		return fmt.Errorf("peer uid %d (pid %d) is not %d", cred.Uid, cred.Pid, os.Geteuid())
	}
	return nil
}

func receivedFDs(oob []byte) []int {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil
	}
	var fds []int
	for _, m := range msgs {
		if f, err := unix.ParseUnixRights(&m); err == nil {
			fds = append(fds, f...)
		}
	}
	return fds
}

var errClosed = errors.New("fdkeeper: connection closed")
