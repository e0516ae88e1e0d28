package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cassfs/cassfs/internal/testenv"
	"github.com/cassfs/cassfs/pkg/cassandra"
	"github.com/cassfs/cassfs/pkg/store"
	"github.com/cassfs/cassfs/pkg/store/storetest"
)

func TestParseFsckFlags(t *testing.T) {
	var out bytes.Buffer
	f, vol, err := parseFsckFlags([]string{"--repair", "--cassandra=a,b", "pvc-1"}, &out)
	if err != nil || vol != "pvc-1" || !f.repair || f.cassandraHosts != "a,b" || f.sessionTimeout != time.Minute {
		t.Fatalf("%+v %q %v", f, vol, err)
	}
	for _, bad := range [][]string{{}, {"a", "b"}, {"--no-such-flag", "v"}} {
		if _, _, err := parseFsckFlags(bad, &out); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestFsckCommand crashes a mount between the steps of a cross-directory rename and between the blocks and the
// slice of a write, then runs "csi-driver fsck" on the volume: it must report the damage and exit non-zero, and
// with --repair fix it; afterwards the tree is consistent, the renamed file is under its new name only with its
// data, and the leaked blocks are gone.
func TestFsckCommand(t *testing.T) {
	hosts := testenv.RequireCassandra(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	c, err := cassandra.Connect(ctx, cassandra.ClusterConfig{Hosts: hosts, Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close) // after the volume is deleted (cleanups run last first)
	id := testenv.UniqueName("fsckcmd-")
	spec, err := cassandra.ParseVolumeSpec(id, 0, map[string]string{"chunkSize": "8192", "blockSize": "4096"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateVolume(ctx, spec); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.DeleteVolume(context.Background(), id); err != nil {
			t.Errorf("delete volume: %v", err)
		}
	})

	// A mount that crashes twice.
	a, err := c.OpenVolume(ctx, id, cassandra.OpenOptions{Session: "crashing"})
	if err != nil {
		t.Fatal(err)
	}
	dir := mustAttr(t)(a.Mknod(ctx, store.RootIno, "d", store.NewNode{Type: store.TypeDir, Mode: 0o755}))
	other := mustAttr(t)(a.Mknod(ctx, store.RootIno, "o", store.NewNode{Type: store.TypeDir, Mode: 0o755}))
	f := mustAttr(t)(a.Mknod(ctx, dir.Ino, "f", store.NewNode{Type: store.TypeFile, Mode: 0o644}))
	content := bytes.Repeat([]byte("precious "), 1000)
	mustAttr(t)(a.Write(ctx, f.Ino, 0, content))
	crash := errors.New("crash")
	for _, step := range []struct {
		name string
		op   func() error
	}{
		{"rename.new", func() error { return a.Rename(ctx, dir.Ino, "f", other.Ino, "g", 0) }},
		{"data.write.blocks", func() error { _, err := a.Write(ctx, f.Ino, 9000, make([]byte, 10000)); return err }},
	} {
		hit := false
		restore := cassandra.SetFailpoint(func(name string) error {
			if name == step.name && !hit {
				hit = true
				return crash
			}
			return nil
		})
		err := step.op()
		restore()
		if !hit || !errors.Is(err, crash) {
			t.Fatalf("%s: not reached (%v)", step.name, err)
		}
	}
	if err := a.Close(); err != nil { // the session ends; its intent and its unnamed blocks stay behind
		t.Fatal(err)
	}

	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		start := time.Now()
		err := fsck(ctx, append([]string{"--cassandra=" + strings.Join(hosts, ",")}, append(args, id)...), &out)
		t.Logf("csi-driver fsck %s (%v): %v\n%s", strings.Join(args, " "), time.Since(start).Round(time.Millisecond), err, out.String())
		return out.String(), err
	}
	out, err := run()
	if !errors.Is(err, errProblems) {
		t.Fatalf("fsck of a damaged volume: %v, want %v", err, errProblems)
	}
	for _, want := range []string{"unfinished intents", "leaked", "problem: "} {
		if !strings.Contains(out, want) {
			t.Errorf("the report does not mention %q", want)
		}
	}
	if out, err = run("--repair"); err != nil || !strings.Contains(out, "found and repaired") {
		t.Fatalf("fsck --repair: %v", err)
	}
	if out, err = run(); err != nil || !strings.Contains(out, "found 0 problems") {
		t.Fatalf("fsck after the repair: %v", err)
	}

	// The tree afterwards, through a fresh session.
	v, err := c.OpenVolume(ctx, id, cassandra.OpenOptions{Session: "verify"})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	storetest.CheckTree(t, v)
	if _, err := v.Lookup(ctx, dir.Ino, "f"); !errors.Is(err, syscall.ENOENT) {
		t.Errorf("the old name survived the repair: %v", err)
	}
	g, err := v.Lookup(ctx, other.Ino, "g")
	if err != nil || g.Ino != f.Ino || g.Nlink != 1 {
		t.Fatalf("the new name: %+v, %v", g, err)
	}
	buf := make([]byte, 2*len(content))
	n, err := v.Read(ctx, g.Ino, 0, buf)
	if err != nil || !bytes.Equal(buf[:n], content) {
		t.Errorf("the renamed file reads %d bytes (%v), want its %d", n, err, len(content))
	}
}

func mustAttr(t *testing.T) func(store.Attr, error) store.Attr {
	return func(a store.Attr, err error) store.Attr {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
}
