package fusefs

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"golang.org/x/sys/unix"

	"github.com/cassfs/cassfs/internal/testenv"
	"github.com/cassfs/cassfs/pkg/lock"
	"github.com/cassfs/cassfs/pkg/store/memstore"
)

// TestFcntlDeadlock: two processes, each through its own mount of one volume, lock one byte range each and then
// wait (F_SETLKW) for the other's. One of the two waits is refused with EDEADLK; when that process exits (its
// locks go with its descriptors), the other is granted. Run with the in-process lock table the two mounts share
// and with ZooKeeper (one session per mount, as on two nodes). The fcntl calls run in child processes: POSIX lock
// owners are processes, and this process serves the mounts.
func TestFcntlDeadlock(t *testing.T) {
	if os.Getenv("FUSEFS_LOCK_CHILD") != "" {
		lockChild()
		return
	}
	t.Run("Local", func(t *testing.T) {
		a, b, _ := mountMemTwice(t)
		fcntlDeadlock(t, a, b)
	})
	t.Run("ZooKeeper", func(t *testing.T) {
		vol := memstore.NewVolume(memstore.Options{})
		cfg := zkConfig(t)
		a, _ := mountStore(t, vol.Session("a"), Options{Locks: lock.NewZKFiles(newZK(t, cfg)), Session: "a"})
		b, _ := mountStore(t, vol.Session("b"), Options{Locks: lock.NewZKFiles(newZK(t, cfg)), Session: "b"})
		fcntlDeadlock(t, a, b)
	})
}

func fcntlDeadlock(t *testing.T, a, b string) {
	writeFile(t, join(a, "f"), make([]byte, 100))
	p1, p2 := startLockChild(t, "p1"), startLockChild(t, "p2")
	p1.do(t, "open "+join(a, "f"), "ok")
	p2.do(t, "open "+join(b, "f"), "ok")
	p1.do(t, "setlk 0 10 w", "ok")
	p2.do(t, "setlk 10 10 w", "ok")
	p1.send(t, "setlkw 10 10 w")
	time.Sleep(300 * time.Millisecond) // let p1 start waiting; if it has not, p1's request closes the cycle instead
	start := time.Now()
	p2.send(t, "setlkw 0 10 w")
	var loser, winner *lockChildProc
	select {
	case r := <-p1.results:
		loser, winner = p1, p2
		if r != "EDEADLK" {
			t.Fatalf("p1's F_SETLKW = %s, want EDEADLK or waiting", r)
		}
	case r := <-p2.results:
		loser, winner = p2, p1
		if r != "EDEADLK" {
			t.Fatalf("p2's F_SETLKW = %s, want EDEADLK or waiting", r)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("two processes wait for each other's locks: no EDEADLK within 60 s")
	}
	t.Logf("MEASURED: %s's F_SETLKW refused with EDEADLK %v after p2's request was sent", loser.name, time.Since(start).Round(100*time.Microsecond))
	select {
	case r := <-winner.results:
		t.Fatalf("%s's F_SETLKW returned %s although its holder still holds the range", winner.name, r)
	case <-time.After(300 * time.Millisecond):
	}
	// The loser still holds its range: a non-blocking request for it fails.
	if r := loser.do(t, "getlk 0 100 w", ""); !strings.HasPrefix(r, "w ") {
		t.Fatalf("F_GETLK by %s = %q, want the other's write lock", loser.name, r)
	}
	loser.exit(t) // its locks are released with its descriptors
	select {
	case r := <-winner.results:
		if r != "ok" {
			t.Fatalf("%s's F_SETLKW after the other process exited = %s, want ok", winner.name, r)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("%s's F_SETLKW not granted after the other process exited", winner.name)
	}
	winner.exit(t)
}

// lockChildProc is a child process that runs lock commands read from its stdin (see lockChild).
type lockChildProc struct {
	name    string
	cmd     *exec.Cmd
	in      io.WriteCloser
	results chan string
	out     *strings.Builder
	done    chan struct{}
}

func startLockChild(t *testing.T, name string) *lockChildProc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestFcntlDeadlock$", "-test.count=1")
	cmd.Env = append(os.Environ(), "FUSEFS_LOCK_CHILD=1")
	in, err := cmd.StdinPipe()
	must(t, err)
	out, err := cmd.StdoutPipe()
	must(t, err)
	cmd.Stderr = cmd.Stdout
	must(t, cmd.Start())
	p := &lockChildProc{name: name, cmd: cmd, in: in, results: make(chan string, 4), out: &strings.Builder{}, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if r, ok := strings.CutPrefix(sc.Text(), "RESULT "); ok {
				p.results <- r
			} else {
				p.out.WriteString(sc.Text() + "\n")
			}
		}
	}()
	t.Cleanup(func() {
		_ = in.Close()
		select {
		case <-p.done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-p.done
		}
		_ = cmd.Wait()
	})
	return p
}

func (p *lockChildProc) send(t *testing.T, command string) {
	t.Helper()
	if _, err := fmt.Fprintln(p.in, command); err != nil {
		t.Fatalf("%s: %v", p.name, err)
	}
}

// do runs command and checks its result against want (any result if want is empty).
func (p *lockChildProc) do(t *testing.T, command, want string) string {
	t.Helper()
	p.send(t, command)
	select {
	case r := <-p.results:
		if want != "" && r != want {
			t.Fatalf("%s: %s = %s, want %s", p.name, command, r, want)
		}
		return r
	case <-p.done:
		t.Fatalf("%s exited during %s:\n%s", p.name, command, p.out)
	case <-time.After(60 * time.Second):
		t.Fatalf("%s: %s still running after 60 s", p.name, command)
	}
	return ""
}

// exit ends the child (EOF on its stdin) and waits for it.
func (p *lockChildProc) exit(t *testing.T) {
	t.Helper()
	_ = p.in.Close()
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		t.Fatalf("%s did not exit", p.name)
	}
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("%s: %v\n%s", p.name, err, p.out)
	}
}

// lockChild runs in the child process: it reads commands, one a line, and prints "RESULT <outcome>" for each:
//
//	open PATH                     open PATH read-write (the descriptor later commands use)
//	setlk|setlkw START LEN r|w|u  fcntl F_SETLK / F_SETLKW: "ok" or the errno's name
//	getlk START LEN r|w           fcntl F_GETLK: "u" (free) or "<r|w> START LEN"
//
// It exits at EOF; exiting closes the descriptor, which releases its locks.
func lockChild() {
	var f *os.File
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		result := func() string {
			if fields[0] == "open" {
				var err error
				if f, err = os.OpenFile(fields[1], os.O_RDWR, 0); err != nil {
					return err.Error()
				}
				return "ok"
			}
			start, _ := strconv.ParseInt(fields[1], 10, 64)
			n, _ := strconv.ParseInt(fields[2], 10, 64)
			lk := &unix.Flock_t{Type: map[string]int16{"r": unix.F_RDLCK, "w": unix.F_WRLCK, "u": unix.F_UNLCK}[fields[3]], Start: start, Len: n}
			cmd := map[string]int{"setlk": unix.F_SETLK, "setlkw": unix.F_SETLKW, "getlk": unix.F_GETLK}[fields[0]]
			if err := unix.FcntlFlock(f.Fd(), cmd, lk); err != nil {
				var errno syscall.Errno
				if errors.As(err, &errno) {
					return unix.ErrnoName(errno)
				}
				return err.Error()
			}
			if cmd != unix.F_GETLK {
				return "ok"
			}
			switch lk.Type {
			case unix.F_RDLCK:
				return fmt.Sprintf("r %d %d", lk.Start, lk.Len)
			case unix.F_WRLCK:
				return fmt.Sprintf("w %d %d", lk.Start, lk.Len)
			}
			return "u"
		}()
		fmt.Println("RESULT " + result)
	}
	os.Exit(0)
}

// zkConfig returns the ZooKeeper config of a fresh volume namespace under a chroot of its own, both deleted when
// the test ends.
func zkConfig(t *testing.T) lock.ZKConfig {
	t.Helper()
	cfg := lock.ZKConfig{
		Servers:        testenv.RequireZooKeeper(t),
		SessionTimeout: 6 * time.Second,
		Chroot:         "/" + testenv.UniqueName("cassfs-fusefs-"),
		Namespace:      testenv.UniqueName("vol-"),
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := lock.DeleteZKNamespace(ctx, cfg); err != nil {
			t.Errorf("delete ZooKeeper namespace: %v", err)
			return
		}
		c, _, err := zk.Connect(cfg.Servers, 5*time.Second, zk.WithLogInfo(false))
		if err != nil {
			t.Errorf("cleanup connect: %v", err)
			return
		}
		defer c.Close()
		if err := c.Delete(cfg.Chroot, -1); err != nil && !errors.Is(err, zk.ErrNoNode) {
			t.Errorf("delete chroot %s: %v", cfg.Chroot, err)
		}
	})
	return cfg
}

func newZK(t *testing.T, cfg lock.ZKConfig) *lock.ZK {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	z, err := lock.NewZK(ctx, cfg)
	if err != nil {
		t.Fatalf("NewZK: %v", err)
	}
	t.Cleanup(func() { _ = z.Close() })
	return z
}
