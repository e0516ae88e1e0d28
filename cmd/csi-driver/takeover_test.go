package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/cassfs/cassfs/internal/testenv"
	"github.com/cassfs/cassfs/pkg/cassandra"
	"github.com/cassfs/cassfs/pkg/fdkeeper"
)

// TestMain lets the tests run this test binary as csi-driver (CASSFS_TEST_AS=csi-driver) or as an application
// writing to a mount (CASSFS_TEST_AS=writer), in child processes that can be killed.
func TestMain(m *testing.M) {
	switch os.Getenv("CASSFS_TEST_AS") {
	case "csi-driver":
		main()
		os.Exit(0)
	case "writer":
		os.Exit(writerMain(os.Args[1]))
	case "bigwriter":
		os.Exit(bigWriterMain(os.Args[1]))
	}
	os.Exit(m.Run())
}

// writerMain appends numbered 100-byte records to path, fsyncing each and then printing "synced N T", until its
// stdin closes; a line "hold" on stdin makes it print "held N" after record N and wait for the next line. Any
// error is printed ("ERROR ...") and fails the process.
func writerMain(path string) int {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		fmt.Printf("ERROR open: %v\n", err)
		return 1
	}
	// Descriptors held across the kill besides the one written: a file open for reading and a directory, and a
	// name looked up before it; they are used again every 10 records.
	sub := filepath.Join(filepath.Dir(path), "d")
	if err := os.Mkdir(sub, 0o755); err != nil && !os.IsExist(err) {
		fmt.Printf("ERROR mkdir: %v\n", err)
		return 1
	}
	if err := os.WriteFile(filepath.Join(sub, "r"), []byte("hello"), 0o644); err != nil {
		fmt.Printf("ERROR write d/r: %v\n", err)
		return 1
	}
	rf, err := os.Open(filepath.Join(sub, "r"))
	if err != nil {
		fmt.Printf("ERROR open d/r: %v\n", err)
		return 1
	}
	df, err := os.Open(sub)
	if err != nil {
		fmt.Printf("ERROR open d: %v\n", err)
		return 1
	}
	check := func() error {
		b := make([]byte, 16)
		if n, err := rf.ReadAt(b, 0); n != 5 || string(b[:5]) != "hello" {
			return fmt.Errorf("read d/r: %q %v", b[:n], err)
		}
		if fi, err := rf.Stat(); err != nil || fi.Size() != 5 {
			return fmt.Errorf("fstat d/r: %v %v", fi, err)
		}
		if _, err := df.Seek(0, io.SeekStart); err != nil {
			return fmt.Errorf("rewind d: %v", err)
		}
		if names, err := df.Readdirnames(-1); err != nil || len(names) != 1 || names[0] != "r" {
			return fmt.Errorf("readdir d: %q %v", names, err)
		}
		if fi, err := os.Stat(filepath.Join(sub, "r")); err != nil || fi.Size() != 5 {
			return fmt.Errorf("stat d/r: %v", err)
		}
		return nil
	}
	cmds := make(chan string)
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			cmds <- sc.Text()
		}
		close(cmds)
	}()
	closeAll := func() int {
		if err := errors.Join(f.Close(), rf.Close(), df.Close()); err != nil {
			fmt.Printf("ERROR close: %v\n", err)
			return 1
		}
		fmt.Println("closed")
		return 0
	}
	for i := 0; ; i++ {
		if i%10 == 0 {
			if err := check(); err != nil {
				fmt.Printf("ERROR %d: %v\n", i, err)
				return 1
			}
		}
		if _, err := f.WriteString(record(i)); err != nil {
			fmt.Printf("ERROR write %d: %v\n", i, err)
			return 1
		}
		if err := f.Sync(); err != nil {
			fmt.Printf("ERROR fsync %d: %v\n", i, err)
			return 1
		}
		fmt.Printf("synced %d %d\n", i, time.Now().UnixNano())
		select {
		case c, ok := <-cmds:
			if !ok {
				return closeAll()
			}
			if c == "hold" { // wait between two records until told to go on
				fmt.Printf("held %d\n", i)
				if _, ok := <-cmds; !ok {
					return closeAll()
				}
			}
		default:
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func record(i int) string {
	s := fmt.Sprintf("record %08d ", i)
	return s + strings.Repeat("x", 99-len(s)) + "\n"
}

// child is a process started from this test binary; its stdout lines arrive on lines.
type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
	done  chan error
}

func startChild(t *testing.T, as string, args ...string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "CASSFS_TEST_AS="+as)
	cmd.Stderr = &testLogWriter{t: t, prefix: as + ": "}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, stdin: stdin, lines: make(chan string, 100000), done: make(chan error, 1)}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		close(c.lines)
		c.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
		}
	})
	return c
}

// waitLine returns the first line with prefix, failing after timeout or at EOF.
func (c *child) waitLine(t *testing.T, prefix string, timeout time.Duration) string {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case l, ok := <-c.lines:
			if !ok {
				t.Fatalf("%s exited before printing %q", c.cmd.Args[0], prefix)
			}
			if strings.HasPrefix(l, "ERROR") {
				t.Fatalf("child: %s", l)
			}
			if strings.HasPrefix(l, prefix) {
				return l
			}
		case <-deadline:
			t.Fatalf("no %q within %v", prefix, timeout)
		}
	}
}

type testLogWriter struct {
	t      *testing.T
	prefix string
}

func (w *testLogWriter) Write(p []byte) (int, error) {
	for _, l := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		if strings.Contains(l, "level=INFO") || strings.Contains(l, "level=WARN") || strings.Contains(l, "level=ERROR") ||
			!strings.Contains(l, "level=") {
			w.t.Log(w.prefix + l)
		}
	}
	return len(p), nil
}

// syncedIndex parses "synced N T".
func syncedIndex(t *testing.T, l string) (int, time.Time) {
	f := strings.Fields(l)
	n, err1 := strconv.Atoi(f[1])
	ns, err2 := strconv.ParseInt(f[2], 10, 64)
	if err1 != nil || err2 != nil {
		t.Fatalf("bad line %q", l)
	}
	return n, time.Unix(0, ns)
}

// TestMountSurvivesSIGKILL: "csi-driver mount" with an fdkeeper serves a real Cassandra volume to an application
// that writes and fsyncs in a loop; the server is killed with SIGKILL and a new one takes the connection over.
// The application sees no error, every record is intact, and the mount keeps working. The time from the kill
// to the application's next completed fsync is logged.
func TestMountSurvivesSIGKILL(t *testing.T) {
	hosts := testenv.RequireCassandra(t)
	dir, sock, mountArgs := keptMountSetup(t, hosts)
	srv1 := startChild(t, "csi-driver", mountArgs...)
	srv1.waitLine(t, "mounted volume", 2*time.Minute)
	var srv2 *child

	n := writerSurvives(t, filepath.Join(dir, "log"), func(resume func()) time.Time {
		killed := time.Now()
		if err := srv1.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-srv1.done
		resume()
		srv2 = startChild(t, "csi-driver", mountArgs...)
		srv2.waitLine(t, "took over mounted volume", 2*time.Minute)
		t.Logf("measured: kill -> new server serving (process start, Cassandra session, takeover): %v",
			time.Since(killed).Round(time.Millisecond))
		return killed
	})
	checkRecords(t, filepath.Join(dir, "log"), n)
	// The mount works for new files and names.
	if err := os.WriteFile(filepath.Join(dir, "after"), []byte("ok"), 0o644); err != nil {
		t.Fatal(err)
	}
	if ents, err := os.ReadDir(dir); err != nil || len(ents) != 3 {
		t.Fatalf("readdir: %v %v", ents, err)
	}

	// SIGTERM unmounts, and the keeper lets go of the connection.
	if err := srv2.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	srv2.waitLine(t, "unmounted", time.Minute)
	<-srv2.done
	if kept, err := fdkeeper.NewClient(sock).List(); err != nil || len(kept) != 0 {
		t.Fatalf("keeper still holds %v (%v)", kept, err)
	}
}

// writerSurvives runs the writer application on path until it has fsynced 30 records, holds it between two
// records and calls kill, which stops the server, calls resume (the application goes on: its next write waits
// in the kernel), starts the successor and returns the time of the stop; then it lets the application fsync 30
// more and stops it. The application must see no error. It returns the last record fsynced.
func writerSurvives(t *testing.T, path string, kill func(resume func()) time.Time) int {
	app := startChild(t, "writer", path)
	var last int
	for last < 30 {
		last, _ = syncedIndex(t, app.waitLine(t, "synced", time.Minute))
	}
	// The kill lands between two records: a FSYNC in flight at the kill fails with EIO by design
	// (TestKillDuringFsync); other requests in flight are replayed.
	if _, err := io.WriteString(app.stdin, "hold\n"); err != nil {
		t.Fatal(err)
	}
	last, _ = strconv.Atoi(strings.Fields(app.waitLine(t, "held", time.Minute))[1])
	killed := kill(func() {
		if _, err := io.WriteString(app.stdin, "go\n"); err != nil { // its next write waits for the new server
			t.Fatal(err)
		}
	})
	t.Logf("server stopped after record %d was fsynced", last)
	var n int
	var first time.Time
	for {
		n, first = syncedIndex(t, app.waitLine(t, "synced", time.Minute))
		if first.After(killed) {
			break
		}
	}
	t.Logf("measured: stop -> the application's first fsync completed after it: %v (record %d)",
		first.Sub(killed).Round(time.Millisecond), n)
	for n < last+30 {
		n, _ = syncedIndex(t, app.waitLine(t, "synced", time.Minute))
	}
	app.stdin.Close()
	app.waitLine(t, "closed", time.Minute)
	if err := <-app.done; err != nil {
		t.Fatalf("application failed: %v", err)
	}
	return n
}

// checkRecords checks that path holds the writer's records 0..n at least, all intact.
func checkRecords(t *testing.T, path string, n int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	recs := len(b) / 100
	if len(b)%100 != 0 || recs < n+1 {
		t.Fatalf("file has %d bytes, want whole records and at least %d", len(b), n+1)
	}
	for i := 0; i < recs; i++ {
		if got := string(b[i*100 : (i+1)*100]); got != record(i) {
			t.Fatalf("record %d = %q", i, got)
		}
	}
}

// TestPluginSurvivesSIGKILL: a volume staged and published by "csi-driver serve" with an fdkeeper; an
// application writes through the target; the plugin is killed with SIGKILL and started again. The new plugin
// resumes the staging mount in place (the target's bind mount stays valid): the application sees no error and
// every record is intact. The same again with SIGTERM, which hands the mounts over to the next plugin instead
// of unmounting them. Then the volume is unpublished, unstaged and deleted through the new plugin, and the
// keeper lets go of the connection.
func TestPluginSurvivesSIGKILL(t *testing.T) {
	hosts := testenv.RequireCassandra(t)
	tmp := t.TempDir()
	sock := filepath.Join(tmp, "keeper.sock")
	staging, target := filepath.Join(tmp, "staging"), filepath.Join(tmp, "target")
	t.Cleanup(func() {
		_ = syscall.Unmount(target, syscall.MNT_DETACH)
		_ = syscall.Unmount(staging, syscall.MNT_DETACH)
	})
	keeper := startChild(t, "csi-driver", "fdkeeper", "--socket="+sock)
	waitFile(t, sock)
	csiSock := filepath.Join(tmp, "csi.sock")
	serveArgs := []string{"serve", "--endpoint=unix://" + csiSock, "--mode=all", "--node-id=fdkeeper-test",
		"--cassandra=" + strings.Join(hosts, ","), "--state-dir=" + filepath.Join(tmp, "state"), "--fdkeeper-socket=" + sock}
	plugin := startChild(t, "csi-driver", serveArgs...)
	waitFile(t, csiSock)
	conn, err := grpc.NewClient("unix://"+csiSock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctrl, node := csi.NewControllerClient(conn), csi.NewNodeClient(conn)
	ctx := context.Background()
	vc := &csi.VolumeCapability{AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{}},
		AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER}}
	name := testenv.UniqueName("fdkeep-")
	var vol *csi.CreateVolumeResponse
	for i := 0; i < 5; i++ { // schema changes can time out on a loaded node; the CO retries CreateVolume too
		vol, err = ctrl.CreateVolume(ctx, &csi.CreateVolumeRequest{Name: name,
			VolumeCapabilities: []*csi.VolumeCapability{vc}, CapacityRange: &csi.CapacityRange{RequiredBytes: 64 << 20}})
		if err == nil {
			break
		}
		time.Sleep(2 * time.Second)
	}
	if err != nil {
		t.Fatal(err)
	}
	id := vol.Volume.VolumeId
	if _, err := node.NodeStageVolume(ctx, &csi.NodeStageVolumeRequest{VolumeId: id, StagingTargetPath: staging,
		VolumeCapability: vc, VolumeContext: vol.Volume.VolumeContext}); err != nil {
		t.Fatal(err)
	}
	if _, err := node.NodePublishVolume(ctx, &csi.NodePublishVolumeRequest{VolumeId: id, StagingTargetPath: staging,
		TargetPath: target, VolumeCapability: vc}); err != nil {
		t.Fatal(err)
	}

	n := writerSurvives(t, filepath.Join(target, "log"), func(resume func()) time.Time {
		killed := time.Now()
		if err := plugin.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-plugin.done
		resume()
		plugin = startChild(t, "csi-driver", serveArgs...)
		return killed
	})
	checkRecords(t, filepath.Join(target, "log"), n)
	checkRecords(t, filepath.Join(staging, "log"), n)

	// SIGTERM with a keeper hands the mounts over (written back, not unmounted).
	n = writerSurvives(t, filepath.Join(target, "log2"), func(resume func()) time.Time {
		stopped := time.Now()
		if err := plugin.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		resume() // its next requests race with the hand-over: held unanswered, then served by the successor
		if err := <-plugin.done; err != nil {
			t.Errorf("plugin exit after SIGTERM: %v", err)
		}
		plugin = startChild(t, "csi-driver", serveArgs...)
		return stopped
	})
	checkRecords(t, filepath.Join(target, "log2"), n)

	if _, err := node.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: id, TargetPath: target}); err != nil {
		t.Fatal(err)
	}
	if _, err := node.NodeUnstageVolume(ctx, &csi.NodeUnstageVolumeRequest{VolumeId: id, StagingTargetPath: staging}); err != nil {
		t.Fatal(err)
	}
	var delErr error
	for i := 0; i < 5; i++ { // DROP KEYSPACE can time out on a loaded node (and reads fail while it completes)
		if _, delErr = ctrl.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: id}); delErr == nil {
			break
		}
		time.Sleep(2 * time.Second)
	}
	if delErr != nil {
		t.Errorf("delete volume: %v", delErr)
	}
	if kept, err := fdkeeper.NewClient(sock).List(); err != nil || len(kept) != 0 {
		t.Fatalf("keeper still holds %v (%v)", kept, err)
	}
	_ = plugin.cmd.Process.Signal(syscall.SIGTERM)
	if err := <-plugin.done; err != nil {
		t.Errorf("plugin: %v", err)
	}
	_ = keeper.cmd.Process.Signal(syscall.SIGTERM)
	if err := <-keeper.done; err != nil {
		t.Errorf("keeper: %v", err)
	}
}

func waitFile(t *testing.T, path string) {
	t.Helper()
	for i := 0; i < 1500; i++ {
		if _, err := os.Stat(path); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s did not appear", path)
}

const bigSize = 48<<20 + 1000

func bigByte(i int) byte { return byte(i*7 + i/4096) }

// bigWriterMain writes bigSize bytes (not a multiple of the write-back piece, so fsync has a piece to upload) to path, prints "fsyncing", fsyncs and prints "fsync ok" or "fsync <errno>",
// then closes and prints "closed" (or "ERROR ...").
func bigWriterMain(path string) int {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		fmt.Printf("ERROR open: %v\n", err)
		return 1
	}
	b := make([]byte, bigSize)
	for i := range b {
		b[i] = bigByte(i)
	}
	if _, err := f.Write(b); err != nil {
		fmt.Printf("ERROR write: %v\n", err)
		return 1
	}
	fmt.Println("fsyncing")
	if err := f.Sync(); err != nil {
		fmt.Printf("fsync %v\n", errors.Unwrap(err))
	} else {
		fmt.Println("fsync ok")
	}
	if err := f.Close(); err != nil {
		fmt.Printf("ERROR close: %v\n", err)
		return 1
	}
	fmt.Println("closed")
	return 0
}

// TestKillDuringFsync: the server is killed while it uploads a 32 MiB fsync. The kernel queues the FSYNC
// again for the new server (FUSE_NOTIFY_RESEND), which cannot know what the dead one stored: the application's
// fsync must then fail with EIO rather than hang or claim durability. (If the upload finished before the kill,
// fsync succeeds and the data must be intact.) The mount keeps working.
func TestKillDuringFsync(t *testing.T) {
	hosts := testenv.RequireCassandra(t)
	dir, sock, mountArgs := keptMountSetup(t, hosts)
	srv1 := startChild(t, "csi-driver", mountArgs...)
	srv1.waitLine(t, "mounted volume", 2*time.Minute)

	app := startChild(t, "bigwriter", filepath.Join(dir, "big"))
	app.waitLine(t, "fsyncing", 2*time.Minute)
	time.Sleep(5 * time.Millisecond)
	killed := time.Now()
	if err := srv1.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-srv1.done
	srv2 := startChild(t, "csi-driver", mountArgs...)
	srv2.waitLine(t, "took over mounted volume", 2*time.Minute)
	res := app.waitLine(t, "fsync", 2*time.Minute)
	t.Logf("measured: kill -> fsync returned %q after %v", res, time.Since(killed).Round(time.Millisecond))
	app.waitLine(t, "closed", time.Minute)
	if err := <-app.done; err != nil {
		t.Fatalf("application: %v", err)
	}
	switch res {
	case "fsync input/output error":
	case "fsync ok":
		b, err := os.ReadFile(filepath.Join(dir, "big"))
		if err != nil || len(b) != bigSize {
			t.Fatalf("fsync succeeded but the file has %d bytes (%v)", len(b), err)
		}
		for i := range b {
			if b[i] != bigByte(i) {
				t.Fatalf("fsync succeeded but byte %d is %d", i, b[i])
			}
		}
	default:
		t.Fatalf("fsync during the kill: %q, want EIO (or success with the data intact)", res)
	}
	if err := os.WriteFile(filepath.Join(dir, "after"), []byte("ok"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "after")); err != nil || string(b) != "ok" {
		t.Fatalf("after: %q %v", b, err)
	}
	if err := srv2.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	srv2.waitLine(t, "unmounted", time.Minute)
	<-srv2.done
	if kept, err := fdkeeper.NewClient(sock).List(); err != nil || len(kept) != 0 {
		t.Fatalf("keeper still holds %v (%v)", kept, err)
	}
}

// keptMountSetup creates a volume (deleted at the end), a mount point and a running fdkeeper; it returns the
// mount point, the keeper's socket and the arguments of "csi-driver mount" with the keeper.
func keptMountSetup(t *testing.T, hosts []string) (dir, sock string, mountArgs []string) {
	t.Helper()
	vol := testenv.UniqueName("fdkeep-")
	cl, err := cassandra.Connect(context.Background(), cassandra.ClusterConfig{Hosts: hosts, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	t.Cleanup(func() {
		err := cl.DeleteVolume(context.Background(), vol)
		for i := 0; i < 5 && err != nil && !errors.Is(err, cassandra.ErrVolumeNotFound); i++ {
			time.Sleep(2 * time.Second) // DROP KEYSPACE can time out on a loaded node
			err = cl.DeleteVolume(context.Background(), vol)
		}
		if err != nil && !errors.Is(err, cassandra.ErrVolumeNotFound) {
			t.Errorf("delete volume: %v", err)
		}
	})
	tmp := t.TempDir()
	sock = filepath.Join(tmp, "keeper.sock")
	dir = filepath.Join(tmp, "mnt")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(dir, syscall.MNT_DETACH) })
	keeper := startChild(t, "csi-driver", "fdkeeper", "--socket="+sock)
	t.Cleanup(func() {
		_ = keeper.cmd.Process.Signal(syscall.SIGTERM)
		if err := <-keeper.done; err != nil {
			t.Errorf("keeper: %v", err)
		}
	})
	waitFile(t, sock)
	return dir, sock, []string{"mount", "--fdkeeper=" + sock, "--cassandra=" + strings.Join(hosts, ","), "--create", vol, dir}
}
