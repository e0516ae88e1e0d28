package driver

import (
	"os"
	"path/filepath"
	"testing"
)

func TestParseEndpoint(t *testing.T) {
	for _, tc := range []struct{ in, network, addr string }{
		{"unix:///csi/csi.sock", "unix", "/csi/csi.sock"},
		{"unix:/csi/csi.sock", "unix", "/csi/csi.sock"},
		{"tcp://127.0.0.1:10000", "tcp", "127.0.0.1:10000"},
	} {
		n, a, err := parseEndpoint(tc.in)
		if err != nil || n != tc.network || a != tc.addr {
			t.Errorf("%s: %s %s %v", tc.in, n, a, err)
		}
	}
	for _, bad := range []string{"", "/csi.sock", "http://x", "unix://", "tcp://"} {
		if _, _, err := parseEndpoint(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestListenRemovesStaleSocketOnly(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "csi.sock")
	l, err := listen("unix://" + sock)
	if err != nil {
		t.Fatal(err)
	}
	l.(interface{ SetUnlinkOnClose(bool) }).SetUnlinkOnClose(false)
	l.Close() // leaves the socket file behind, as a crashed plugin would
	l, err = listen("unix://" + sock)
	if err != nil {
		t.Fatalf("stale socket not replaced: %v", err)
	}
	l.Close()
	file := filepath.Join(dir, "data")
	if err := os.WriteFile(file, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := listen("unix://" + file); err == nil {
		t.Fatal("listened over a regular file")
	}
	if b, _ := os.ReadFile(file); string(b) != "keep" {
		t.Fatal("regular file removed")
	}
}
