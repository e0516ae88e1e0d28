package cassbackend

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cassfs/cassfs/internal/testenv"
	"github.com/cassfs/cassfs/pkg/cassandra"
)

// csiVolumeID is the ID the controller derives from a CreateVolume name (pkg/driver params.go: "cassfs-" and 32
// hex digits of SHA-256 of the name), so the test can look for the keyspace a request would have made.
func csiVolumeID(name string) string {
	sum := sha256.Sum256([]byte(name))
	return "cassfs-" + hex.EncodeToString(sum[:])[:32]
}

func keyspaceExists(t *testing.T, sess *gocql.Session, ks string) bool {
	t.Helper()
	var n int
	if err := sess.Query(`SELECT count(*) FROM system_schema.keyspaces WHERE keyspace_name = ?`, ks).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n > 0
}

// TestInjectionAndTraversalRefused drives the real plugin (Cassandra, ZooKeeper, FUSE) with names, parameters,
// secrets and volume IDs that try to inject CQL, and node paths that try to leave the paths they name. A canary
// keyspace is what the injections try to drop, and a keyspace they try to create must not appear. Requests the
// rules refuse get InvalidArgument and leave no keyspace; requests whose text is harmless (a quote in a name is
// hashed, a quote in a password is sent as a login, never as CQL) succeed without touching the canary.
func TestInjectionAndTraversalRefused(t *testing.T) {
	ld := startLiveDriver(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	sess := testenv.Session(t)
	tag := randomHex(t, 4)
	canary, pwned := "cassfs_canary_"+tag, "cassfs_pwned_"+tag
	if err := sess.Query(`CREATE KEYSPACE ` + canary + ` WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}`).Exec(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sess.Query(`DROP KEYSPACE IF EXISTS ` + canary).Exec() })
	drop := "'; DROP KEYSPACE " + canary + "; --"
	create := "'} ; CREATE KEYSPACE " + pwned + " WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}; --"
	caps := []*csi.VolumeCapability{multiWriter()}
	params := func(k, v string) map[string]string { return map[string]string{k: v} }

	// CreateVolume: every case is refused with InvalidArgument and its volume's keyspace does not exist.
	for i, tc := range []struct {
		what    string
		name    string
		params  map[string]string
		secrets map[string]string
	}{
		{"replication", "inj-a", params("replication", "SimpleStrategy"+create), nil},
		{"replicationFactor", "inj-b", params("replicationFactor", "1}"+drop), nil},
		{"dcReplication", "inj-c", params("dcReplication", "dc1"+create+":1"), nil},
		{"dcReplication comment", "inj-d", params("dcReplication", "dc1:1 /* x */"), nil},
		{"dcReplication unicode quote", "inj-e", params("dcReplication", "dc1\u2019:1"), nil},
		{"consistency", "inj-f", params("consistency", "ONE"+drop), nil},
		{"consistency AND", "inj-g", params("consistency", "ONE' AND '1'='1"), nil},
		{"chunkSize", "inj-h", params("chunkSize", "4Mi;"+drop), nil},
		{"compression", "inj-i", params("compression", "zstd'"+create), nil},
		{"unknown key", "inj-j", params("x'"+drop, "1"), nil},
		{"reclaim", "inj-k", params("reclaim", "retain"+drop), nil},
		{"name with NUL", "inj-l\x00" + drop, nil, nil},
		{"name with a C1 control", "inj-m\u0085", nil, nil},
		{"name too long", "inj-n" + strings.Repeat(drop, 8), nil, nil},
		{"username with NUL", "inj-o", nil, map[string]string{"username": "x\x00cassandra", "password": "p"}},
		{"password without username", "inj-p", nil, map[string]string{"password": drop}},
		{"digest without user", "inj-q", nil, map[string]string{"zookeeperDigest": ":" + drop}},
	} {
		name := tc.name + "-" + tag
		_, err := ld.ctrl.CreateVolume(ctx, &csi.CreateVolumeRequest{Name: name, VolumeCapabilities: caps,
			Parameters: tc.params, Secrets: tc.secrets})
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("case %d (%s): %v, want InvalidArgument", i, tc.what, err)
		}
		for _, id := range []string{csiVolumeID(name), "cassfsr" + csiVolumeID(name)[7:]} {
			if keyspaceExists(t, sess, cassandra.KeyspaceName(id)) {
				t.Errorf("case %d (%s): keyspace %s exists", i, tc.what, cassandra.KeyspaceName(id))
			}
		}
	}

	// Harmless text: a name with CQL in it is hashed into the volume ID; a password with CQL in it is a login.
	name := "inj-ok-" + tag + drop + " ' AND 1=1 \u2019"
	cv, err := ld.ctrl.CreateVolume(ctx, &csi.CreateVolumeRequest{Name: name, VolumeCapabilities: caps,
		Secrets: map[string]string{"username": "u' OR '1'='1", "password": drop, "zookeeperDigest": "u:" + drop}})
	if err != nil {
		t.Fatalf("create with a quoted name and password: %v", err)
	}
	id := cv.GetVolume().GetVolumeId()
	if id != csiVolumeID(name) || !keyspaceExists(t, sess, cassandra.KeyspaceName(id)) {
		t.Fatalf("volume %q: keyspace %s missing", id, cassandra.KeyspaceName(id))
	}
	t.Cleanup(func() {
		if _, err := ld.ctrl.DeleteVolume(context.Background(), &csi.DeleteVolumeRequest{VolumeId: id}); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})

	// Volume IDs: refused when they break the rules, otherwise simply not found (they never reach CQL as text).
	for _, bad := range []string{"x" + drop, cassandra.KeyspaceName(id), canary, "../" + id, id + "\x00", "\u0085" + id} {
		_, derr := ld.ctrl.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: bad})
		_, eerr := ld.ctrl.ControllerExpandVolume(ctx, &csi.ControllerExpandVolumeRequest{VolumeId: bad,
			CapacityRange: &csi.CapacityRange{RequiredBytes: 1 << 30}})
		_, verr := ld.ctrl.ValidateVolumeCapabilities(ctx, &csi.ValidateVolumeCapabilitiesRequest{VolumeId: bad, VolumeCapabilities: caps})
		wantDelete, wantOther := codes.OK, codes.NotFound
		if cassandra.CheckVolumeID(bad) != nil {
			wantDelete, wantOther = codes.InvalidArgument, codes.InvalidArgument
		}
		if status.Code(derr) != wantDelete || status.Code(eerr) != wantOther || status.Code(verr) != wantOther {
			t.Errorf("volume id %q: delete %v, expand %v, validate %v", bad, derr, eerr, verr)
		}
	}
	if !keyspaceExists(t, sess, cassandra.KeyspaceName(id)) {
		t.Fatal("a request with another volume id removed the volume")
	}

	// Node paths: nothing is mounted or created for a path that breaks the rules, on a volume that exists.
	cwd := t.TempDir()
	t.Chdir(cwd)
	base := filepath.Join(ld.dir, "node")
	for _, p := range []string{"relative/staging", "./staging", base + "/../escape", base + "//staging", base + "/staging/",
		base + "/./staging", base + "/st\x00aging", base + "/staging\n/proc", "/", ""} {
		_, err := ld.node.NodeStageVolume(ctx, &csi.NodeStageVolumeRequest{VolumeId: id, StagingTargetPath: p, VolumeCapability: caps[0]})
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("stage at %q: %v, want InvalidArgument", p, err)
		}
		_, err = ld.node.NodeUnstageVolume(ctx, &csi.NodeUnstageVolumeRequest{VolumeId: id, StagingTargetPath: p})
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("unstage at %q: %v, want InvalidArgument", p, err)
		}
		_, err = ld.node.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: id, TargetPath: p})
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("unpublish at %q: %v, want InvalidArgument", p, err)
		}
	}
	if entries, _ := os.ReadDir(cwd); len(entries) != 0 {
		t.Errorf("a relative path created %v in the working directory", entries)
	}
	if _, err := os.Stat(filepath.Join(ld.dir, "escape")); err == nil {
		t.Error("an unclean path created a directory outside its parent")
	}
	mounts, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(mounts), ld.dir) {
		t.Errorf("something is mounted under %s", ld.dir)
	}

	// The canary is intact and nothing was created by an injection.
	if !keyspaceExists(t, sess, canary) || keyspaceExists(t, sess, pwned) {
		t.Fatalf("canary %s exists: %v; %s exists: %v", canary, keyspaceExists(t, sess, canary), pwned, keyspaceExists(t, sess, pwned))
	}
}
