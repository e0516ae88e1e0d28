package fdkeeper

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cassfs/cassfs/pkg/fusefs"
)

// Client talks to a Keeper. It implements fusefs.ConnKeeper. Each call is one short connection.
type Client struct {
	path string
	// Timeout bounds one call (default 10s).
	Timeout time.Duration
}

var _ fusefs.ConnKeeper = (*Client)(nil)

// NewClient returns a client of the keeper listening on the unix socket path.
func NewClient(path string) *Client { return &Client{path: path, Timeout: 10 * time.Second} }

func (c *Client) call(req request, send *os.File) (reply, *os.File, error) {
	conn, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: c.path, Net: "unixpacket"})
	if err != nil {
		return reply{}, nil, fmt.Errorf("fdkeeper: %w", err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(c.Timeout))
	b, err := json.Marshal(req)
	if err != nil {
		return reply{}, nil, err
	}
	var rights []byte
	if send != nil {
		rights = unix.UnixRights(int(send.Fd()))
	}
	if _, _, err := conn.WriteMsgUnix(b, rights, nil); err != nil {
		return reply{}, nil, fmt.Errorf("fdkeeper: %s: %w", req.Op, err)
	}
	buf := make([]byte, maxMsg)
	oob := make([]byte, unix.CmsgSpace(4*4))
	n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
	if err != nil {
		return reply{}, nil, fmt.Errorf("fdkeeper: %s: %w", req.Op, err)
	}
	if n == 0 {
		return reply{}, nil, errClosed
	}
	fds := receivedFDs(oob[:oobn])
	var f *os.File
	for i, fd := range fds {
		if i == 0 {
			f = os.NewFile(uintptr(fd), "fuse:"+req.Dir)
		} else {
			unix.Close(fd)
		}
	}
	var rep reply
	if err := json.Unmarshal(buf[:n], &rep); err != nil {
		if f != nil {
			f.Close()
		}
		return reply{}, nil, fmt.Errorf("fdkeeper: %s: bad reply: %w", req.Op, err)
	}
	if rep.Err != "" {
		if f != nil {
			f.Close()
		}
		return rep, nil, fmt.Errorf("fdkeeper: %s %s: %s", req.Op, req.Dir, rep.Err)
	}
	return rep, f, nil
}

// Keep stores a duplicate of conn.Dev with its metadata under dir.
func (c *Client) Keep(dir string, conn fusefs.Conn) error {
	if conn.Dev == nil {
		return errors.New("fdkeeper: keep without a descriptor")
	}
	meta, err := conn.MarshalMeta()
	if err != nil {
		return err
	}
	_, _, err = c.call(request{Op: "keep", Dir: filepath.Clean(dir), Meta: meta}, conn.Dev)
	return err
}

// Drop forgets dir.
func (c *Client) Drop(dir string) error {
	_, _, err := c.call(request{Op: "drop", Dir: filepath.Clean(dir)}, nil)
	return err
}

// Get returns the connection kept for dir (the caller closes its Dev), or nil if none is kept.
func (c *Client) Get(dir string) (*fusefs.Conn, error) {
	rep, f, err := c.call(request{Op: "get", Dir: filepath.Clean(dir)}, nil)
	if err != nil {
		return nil, err
	}
	if !rep.Found {
		return nil, nil
	}
	if f == nil {
		return nil, errors.New("fdkeeper: get: reply without a descriptor")
	}
	conn, err := fusefs.UnmarshalConnMeta(rep.Meta)
	if err != nil {
		f.Close()
		return nil, err
	}
	conn.Dev = f
	return &conn, nil
}

// List returns the kept mount points, sorted.
func (c *Client) List() ([]string, error) {
	rep, _, err := c.call(request{Op: "list"}, nil)
	return rep.Dirs, err
}
