package fusefs

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"unsafe"

	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// Conn is the kernel side of a mount: a descriptor of its /dev/fuse connection and what a server needs to serve
// it without the INIT handshake, which the kernel does only once per connection. A connection lives as long as
// some process holds a descriptor of it, so a ConnKeeper that holds one keeps the mount (and every application
// blocked on it) alive while the serving process is replaced.
type Conn struct {
	// Dev is a descriptor of the connection (a duplicate: closing it ends nothing while another is open).
	Dev *os.File
	// Init is the kernel's INIT request (go-fuse's fuse.InitIn, header included), as first received.
	Init []byte
	// Epoch numbers the servers of this connection: 1 for the process that mounted, then +1 at each takeover.
	// It is put into every file handle so that a server recognises the handles of its predecessors.
	Epoch uint16
}

// ConnKeeper holds the connections of mounts for their successors. The keeper of a node is the fdkeeper process
// (pkg/fdkeeper); its contract:
//   - Keep stores a duplicate of c.Dev (the caller keeps and closes its own) with c.Init and c.Epoch under the
//     mount point dir, replacing what was kept there. Mount fails when Keep fails: a mount that would not
//     survive its process is refused rather than silently unprotected.
//   - Drop forgets dir and closes its descriptor; dropping an unknown dir is not an error. Unmount calls it after
//     the unmount; a keeper should also drop connections the kernel aborted (the descriptor polls POLLERR).
type ConnKeeper interface {
	Keep(dir string, c Conn) error
	Drop(dir string) error
}

// MarshalMeta encodes Init and Epoch (not Dev) for a keeper; UnmarshalConnMeta is its inverse.
func (c Conn) MarshalMeta() ([]byte, error) {
	return json.Marshal(connMeta{Init: c.Init, Epoch: c.Epoch})
}

// UnmarshalConnMeta decodes what MarshalMeta encoded into a Conn without Dev.
func UnmarshalConnMeta(b []byte) (Conn, error) {
	var m connMeta
	if err := json.Unmarshal(b, &m); err != nil {
		return Conn{}, fmt.Errorf("fusefs: connection metadata: %w", err)
	}
	if len(m.Init) != int(unsafe.Sizeof(fuse.InitIn{})) {
		return Conn{}, fmt.Errorf("fusefs: connection metadata: INIT of %d bytes, want %d", len(m.Init), unsafe.Sizeof(fuse.InitIn{}))
	}
	return Conn{Init: m.Init, Epoch: m.Epoch}, nil
}

type connMeta struct {
	Init  []byte `json:"init"`
	Epoch uint16 `json:"epoch"`
}

// nextEpoch is the epoch after e (never 0).
func nextEpoch(e uint16) uint16 {
	if e++; e == 0 {
		e = 1
	}
	return e
}

// mountOwn opens /dev/fuse and mounts it on dir itself (as go-fuse's direct mount does; it needs
// CAP_SYS_ADMIN), so that the descriptor is ours to duplicate. go-fuse then serves it through its /dev/fd/N
// mount point convention.
func mountOwn(dir string, mo *fuse.MountOptions) (*os.File, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(dir, &st); err != nil {
		return nil, err
	}
	fd, err := syscall.Open("/dev/fuse", os.O_RDWR|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	opts := []string{
		fmt.Sprintf("fd=%d", fd),
		fmt.Sprintf("rootmode=%o", st.Mode&syscall.S_IFMT),
		fmt.Sprintf("user_id=%d", os.Geteuid()),
		fmt.Sprintf("group_id=%d", os.Getegid()),
		fmt.Sprintf("max_read=%d", mo.MaxWrite),
	}
	flags := uintptr(syscall.MS_NOSUID | syscall.MS_NODEV)
	for _, o := range mo.Options {
		if o == "ro" {
			flags |= syscall.MS_RDONLY
			continue
		}
		opts = append(opts, o)
	}
	if mo.AllowOther {
		opts = append(opts, "allow_other")
	}
	if err := syscall.Mount(mo.FsName, dir, "fuse."+mo.Name, flags, strings.Join(opts, ",")); err != nil {
		syscall.Close(fd)
		return nil, err
	}
	return os.NewFile(uintptr(fd), "/dev/fuse"), nil
}

// newServerFD starts a go-fuse server on the connection dev. With init nil the kernel's INIT is read from dev
// (a fresh mount). Otherwise the connection was initialised by an earlier server: go-fuse insists on reading
// INIT first, so it is given one end of a socket pair into which init is written, and once it has answered (the
// answer is read and discarded: the kernel has the earlier one), the socket's descriptor number is made to refer
// to the connection (dup3), where Serve will read. The caller closes dev; the server has its own descriptor.
func newServerFD(raw fuse.RawFileSystem, dev *os.File, init []byte, mo *fuse.MountOptions) (*fuse.Server, error) {
	o := *mo
	o.DirectMount = false
	if init == nil {
		fd, err := unix.Dup(int(dev.Fd()))
		if err != nil {
			return nil, err
		}
		srv, err := fuse.NewServer(raw, fmt.Sprintf("/dev/fd/%d", fd), &o)
		if err != nil {
			syscall.Close(fd)
		}
		return srv, err
	}
	if len(init) != int(unsafe.Sizeof(fuse.InitIn{})) {
		return nil, errors.New("fusefs: bad INIT record")
	}
	// Blocking sockets: os.NewFile then leaves the descriptor out of the poller, so replacing it is safe.
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(pair[1])
	if _, err := unix.Write(pair[1], init); err != nil {
		unix.Close(pair[0])
		return nil, err
	}
	srv, err := fuse.NewServer(raw, fmt.Sprintf("/dev/fd/%d", pair[0]), &o)
	if err != nil {
		unix.Close(pair[0])
		return nil, err
	}
	reply := make([]byte, 4096)
	if n, err := unix.Read(pair[1], reply); err != nil || n < int(unsafe.Sizeof(fuse.OutHeader{})) {
		return nil, fmt.Errorf("fusefs: replayed INIT: no reply (%v)", err)
	} else if h := (*fuse.OutHeader)(unsafe.Pointer(&reply[0])); h.Status != 0 {
		return nil, fmt.Errorf("fusefs: replayed INIT refused: %v", syscall.Errno(-h.Status))
	}
	if err := unix.Dup3(int(dev.Fd()), pair[0], unix.O_CLOEXEC); err != nil {
		return nil, fmt.Errorf("fusefs: take over connection: %w", err)
	}
	return srv, nil
}

// initBytes returns the INIT request srv answered, as Conn.Init records it.
func initBytes(srv *fuse.Server) []byte {
	in := srv.KernelSettings()
	in.Length = uint32(unsafe.Sizeof(*in))
	in.Opcode = 26 // FUSE_INIT
	b := unsafe.Slice((*byte)(unsafe.Pointer(in)), unsafe.Sizeof(*in))
	return append([]byte(nil), b...)
}

// initFlags returns the kernel's capability flags in a recorded INIT.
func initFlags(init []byte) uint64 {
	in := (*fuse.InitIn)(unsafe.Pointer(&init[0]))
	return in.Flags64()
}

// notifyResend asks the kernel to queue again every request a dead server had read and not answered
// (FUSE_NOTIFY_RESEND, Linux 6.9): without it they would wait forever, since the connection never closes.
func notifyResend(dev *os.File) error {
	h := fuse.OutHeader{Length: uint32(unsafe.Sizeof(fuse.OutHeader{})), Status: 7 /* FUSE_NOTIFY_RESEND */}
	_, err := unix.Write(int(dev.Fd()), unsafe.Slice((*byte)(unsafe.Pointer(&h)), unsafe.Sizeof(h)))
	return err
}

// serveConn mounts dir with mount(2) and hands the connection to opts.Keeper, or takes over opts.Takeover, and
// serves it.
func serveConn(dir string, raw fuse.RawFileSystem, rv *reviveFS, fsys *fsys, mo *fuse.MountOptions, epoch uint16, opts Options) (*Server, error) {
	c := Conn{Epoch: epoch}
	var server *fuse.Server
	var err error
	if t := opts.Takeover; t != nil {
		c.Dev, c.Init = t.Dev, t.Init
		server, err = newServerFD(raw, t.Dev, t.Init, mo)
		if err != nil {
			fsys.close()
			return nil, fmt.Errorf("fusefs: take over %s: %w", dir, err)
		}
	} else {
		if c.Dev, err = mountOwn(dir, mo); err != nil {
			fsys.close()
			return nil, fmt.Errorf("fusefs: mount %s: %w", dir, err)
		}
		defer c.Dev.Close()
		if server, err = newServerFD(raw, c.Dev, nil, mo); err != nil {
			_ = syscall.Unmount(dir, 0)
			fsys.close()
			return nil, fmt.Errorf("fusefs: mount %s: %w", dir, err)
		}
		c.Init = initBytes(server)
	}
	s := &Server{dir: dir, fsys: fsys, server: server, own: true, rv: rv}
	resend := false
	if opts.Takeover != nil && initFlags(c.Init)&fuse.CAP_HAS_RESEND != 0 {
		// Before Serve reads anything: the kernel requeues every request read and not answered, and a request
		// this server had read already would be served twice.
		resend = true
		if err := notifyResend(c.Dev); err != nil {
			opts.Logger.Warn("FUSE_NOTIFY_RESEND failed: requests the old server had read stay unanswered", "dir", dir, "err", err)
		}
	}
	go server.Serve()
	if opts.Keeper != nil {
		if err := opts.Keeper.Keep(dir, c); err != nil {
			err = fmt.Errorf("fusefs: keep the connection of %s: %w", dir, err)
			if opts.Takeover == nil {
				return nil, errors.Join(err, s.Unmount())
			}
			// The mount exists already and applications use it: serve it unprotected rather than fail them.
			opts.Logger.Warn("taken-over mount will not survive this process", "dir", dir, "err", err)
		} else {
			s.keeper = opts.Keeper
		}
	}
	if opts.Takeover != nil {
		opts.Logger.Info("took over mount", "dir", dir, "epoch", epoch, "resend", resend, "session", opts.Session)
	} else {
		opts.Logger.Info("mounted", "dir", dir, "fsname", opts.FsName, "readOnly", opts.ReadOnly, "session", opts.Session,
			"kept", true)
	}
	return s, nil
}
