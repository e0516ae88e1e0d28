package sanity

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"testing"
)

// Environment of a child plugin process (see startChild): its directory and ZooKeeper chroot.
const (
	childDirEnv    = "CASSFS_SANITY_CHILD_DIR"
	childChrootEnv = "CASSFS_SANITY_CHILD_CHROOT"
	childRoleEnv   = "CASSFS_SANITY_CHILD_ROLE"
)

// TestMain runs the test binary as a plugin process when a test started it as one: that process serves until it
// is killed, so a test can kill a plugin with live mounts.
func TestMain(m *testing.M) {
	if dir := os.Getenv(childDirEnv); dir != "" {
		os.Exit(runChild(dir, os.Getenv(childChrootEnv), os.Getenv(childRoleEnv)))
	}
	os.Exit(m.Run())
}

// runChild serves a plugin until the process is killed.
func runChild(dir, chroot, role string) int {
	t := &childT{}
	pc := pluginConfig{dir: dir, zkChroot: chroot, role: role, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	pc.start(t)
	select {}
}

// childT implements tb outside a test.
type childT struct{}

func (c *childT) Helper()                      {}
func (c *childT) Cleanup(func())               {}
func (c *childT) Fatal(args ...any)            { fmt.Fprintln(os.Stderr, args...); os.Exit(2) }
func (c *childT) Fatalf(f string, args ...any) { fmt.Fprintf(os.Stderr, f+"\n", args...); os.Exit(2) }
func (c *childT) Errorf(f string, args ...any) { fmt.Fprintf(os.Stderr, f+"\n", args...) }
