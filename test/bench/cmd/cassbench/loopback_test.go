package main

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestLoopbackServesTheDirectory mounts the FUSE loopback, writes through it, finds the bytes in the backing
// directory, and unmounts on SIGTERM (which runLoopback catches).
func TestLoopbackServesTheDirectory(t *testing.T) {
	src, mnt := t.TempDir(), t.TempDir()
	done := make(chan error, 1)
	go func() { done <- runLoopback([]string{src, mnt}) }()
	if err := runWaitMount([]string{"-timeout", "20s", mnt}); err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = syscall.Kill(os.Getpid(), syscall.SIGTERM)
			<-done
		}
	})
	if err := os.WriteFile(filepath.Join(mnt, "f"), []byte("through fuse"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(src, "f")); err != nil || string(b) != "through fuse" {
		t.Fatalf("backing file: %q %v", b, err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		stopped = true
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("loopback did not stop on SIGTERM")
	}
	if err := runWaitMount([]string{"-gone", "-timeout", "0s", mnt}); err != nil {
		t.Fatal(err)
	}
}
