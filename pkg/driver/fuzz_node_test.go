package driver

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
)

// fuzzNode is a node service on the fakes with one volume staged and published below a temporary root:
// volume "vol-a" staged at root/staging/a and published at root/pods/a/mount. Fuzzed paths that start with "/"
// are taken relative to root (so "/staging/a" is the staged path and "/../x" is outside the root and unclean);
// other fuzzed paths stay as they are (relative paths, which must be refused). The working directory is another
// temporary directory, checked to stay empty, so that a relative path that got through would be seen.
type fuzzNode struct {
	n               *node
	stager          *fakeStager
	mounter         *fakeMounter
	root, cwd       string
	staging, target string
	stagedID        string
	before          nodeSnapshot
}

// nodeSnapshot is everything a node request may change.
type nodeSnapshot struct {
	state  []stagedVolume
	mounts []string
	served []string
	files  []string
}

func (e *fuzzNode) snapshot(t *testing.T) nodeSnapshot {
	t.Helper()
	s := nodeSnapshot{state: e.n.state.all()}
	mps, _ := e.mounter.List()
	for _, mp := range mps {
		s.mounts = append(s.mounts, mp.Device+" "+mp.Path+" "+strings.Join(mp.Opts, ","))
	}
	slices.Sort(s.mounts)
	e.stager.mu.Lock()
	for d := range e.stager.served {
		s.served = append(s.served, d)
	}
	e.stager.mu.Unlock()
	slices.Sort(s.served)
	for _, dir := range []string{e.root, e.cwd} {
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			s.files = append(s.files, p)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// unchanged fails the test when the node's state differs from before the request.
func (e *fuzzNode) unchanged(t *testing.T, what string) {
	t.Helper()
	if now := e.snapshot(t); !reflect.DeepEqual(now, e.before) {
		t.Fatalf("%s changed the node:\nbefore %+v\nafter  %+v", what, e.before, now)
	}
}

// path maps a fuzzed path (see fuzzNode).
func (e *fuzzNode) path(p string) string {
	if strings.HasPrefix(p, "/") {
		return e.root + p
	}
	return p
}

func newFuzzNode(t *testing.T, cwd string) *fuzzNode {
	t.Helper()
	t.Chdir(cwd)
	root := t.TempDir()
	e := &fuzzNode{root: root, cwd: cwd, mounter: newFakeMounter(), stagedID: "vol-a",
		staging: filepath.Join(root, "staging", "a"), target: filepath.Join(root, "pods", "a", "mount")}
	e.stager = newFakeStager(e.mounter)
	st, err := loadState("")
	if err != nil {
		t.Fatal(err)
	}
	e.n = newNode("node-1", e.stager, e.mounter, st, map[string]Prober{}, quietLog())
	ctx := context.Background()
	_, err = e.n.NodeStageVolume(ctx, &csi.NodeStageVolumeRequest{VolumeId: e.stagedID, StagingTargetPath: e.staging,
		VolumeCapability: rwo, Secrets: map[string]string{SecretUsername: "u", SecretPassword: "stage-secret"}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.n.NodePublishVolume(ctx, &csi.NodePublishVolumeRequest{VolumeId: e.stagedID, StagingTargetPath: e.staging,
		TargetPath: e.target, VolumeCapability: rwo})
	if err != nil {
		t.Fatal(err)
	}
	e.before = e.snapshot(t)
	return e
}

// fuzzCwd returns an empty temporary directory that newFuzzNode makes each input's working directory (see
// fuzzNode). The fuzz target itself must not change directory: f.Fuzz reads the seed corpus in
// testdata/fuzz/<target> relative to the working directory, and writes failing inputs there.
func fuzzCwd(f *testing.F) string {
	return f.TempDir()
}

func FuzzNodeStageVolume(f *testing.F) {
	for _, s := range []struct {
		id, path           string
		shape              uint8
		mode               int32
		fsType             string
		user, pass, digest string
	}{ // from TestNodeStagePublishRoundTrip, TestNodeBadInput and TestNodeAccessModes
		{id: "vol-b", path: "/staging/b", shape: 3, mode: 1, user: "u", pass: "p"},
		{id: "vol-a", path: "/staging/a", shape: 3, mode: 1},
		{id: "vol-a", path: "/staging/a", shape: 3, mode: 5},
		{id: "vol-b", path: "/staging/a", shape: 3, mode: 1},
		{id: "", path: "/x", shape: 3, mode: 1},
		{id: "v", path: "", shape: 3, mode: 1},
		{id: "v", path: "/x", shape: 0},
		{id: "v", path: "/x", shape: 1, mode: 1},
		{id: "v", path: "/x", shape: 3, mode: 3, fsType: "ext4"},
		{id: "v", path: "relative/dir", shape: 3, mode: 1},
		{id: "v", path: "/staging/../../escape", shape: 3, mode: 1},
		{id: "v", path: "/staging//b", shape: 3, mode: 1},
		{id: "v", path: "/staging/b/", shape: 3, mode: 1},
		{id: "v", path: "/staging/./b", shape: 3, mode: 1},
		{id: "v", path: "/staging/b\x00/etc", shape: 3, mode: 1},
		{id: "v", path: "/staging/b\nfake 0 0", shape: 3, mode: 1},
		{id: "v", path: "/staging/a/inner", shape: 3, mode: 1},
		{id: "v", path: "/staging", shape: 3, mode: 1},
		{id: "v", path: "/pods/a/mount", shape: 3, mode: 1},
		{id: "v", path: "/pods/a/mount/x", shape: 3, mode: 1},
		{id: "v'; DROP KEYSPACE x; --", path: "/staging/c", shape: 3, mode: 1},
		{id: "v", path: "/staging/d", shape: 3, mode: 1, user: "u\x00admin", pass: "node-secret"},
		{id: "v", path: "/staging/d", shape: 3, mode: 1, pass: "node-secret"},
		{id: "v", path: "/staging/d", shape: 3, mode: 1, digest: ":zk-secret"},
	} {
		f.Add(s.id, s.path, s.shape, s.mode, s.fsType, s.user, s.pass, s.digest)
	}
	cwd := fuzzCwd(f)
	f.Fuzz(func(t *testing.T, id, path string, shape uint8, mode int32, fsType, user, pass, digest string) {
		e := newFuzzNode(t, cwd)
		ctx := context.Background()
		dir := e.path(path)
		req := &csi.NodeStageVolumeRequest{VolumeId: id, StagingTargetPath: dir, VolumeCapability: fuzzCap(shape, mode, fsType, ""),
			Secrets: fuzzSecrets(user, pass, digest)}
		want := codes.OK
		switch {
		case badIdentifier(id), badPath(dir), badCapability(req.VolumeCapability), badSecrets(req.Secrets):
			want = codes.InvalidArgument
		case dir == e.staging && id != e.stagedID:
			want = codes.AlreadyExists // another volume is staged there
		case dir == e.staging && (readOnlyMode(req.VolumeCapability.GetAccessMode().GetMode()) ||
			sharingFor(req.VolumeCapability.GetAccessMode().GetMode()) != SharingNode ||
			req.VolumeCapability.GetAccessMode().GetMode() == csi.VolumeCapability_AccessMode_SINGLE_NODE_SINGLE_WRITER):
			want = codes.AlreadyExists // staged with another access mode
		case dir != e.staging && (within(dir, e.staging) || within(e.staging, dir) || within(dir, e.target) || within(e.target, dir)):
			want = codes.AlreadyExists // overlaps a mount of the plugin
		}
		_, err := e.n.NodeStageVolume(ctx, req)
		got := checkErr(t, err, req.Secrets, []string{id, path}, codes.OK, codes.InvalidArgument, codes.AlreadyExists)
		if got != want {
			t.Fatalf("code %v (%v), want %v", got, err, want)
		}
		if err != nil || dir == e.staging {
			e.unchanged(t, "NodeStageVolume")
			return
		}
		if !within(dir, e.root) {
			t.Fatalf("staged outside the root: %q", dir)
		}
		if v, ok := e.n.state.get(dir); !ok || v.VolumeID != id {
			t.Fatalf("state %+v %v", v, ok)
		}
		if _, ok := e.mounter.mountedAt(dir); !ok {
			t.Fatal("not mounted")
		}
		if _, err := e.n.NodeStageVolume(ctx, req); err != nil || e.stager.stages != 2 {
			t.Fatalf("repeat: %v, %d stages (want 2: the setup's and this one)", err, e.stager.stages)
		}
		if _, err := e.n.NodeUnstageVolume(ctx, &csi.NodeUnstageVolumeRequest{VolumeId: id, StagingTargetPath: dir}); err != nil {
			t.Fatal(err)
		}
		if _, ok := e.n.state.get(dir); ok {
			t.Fatal("still recorded after unstage")
		}
		if _, ok := e.mounter.mountedAt(e.staging); !ok {
			t.Fatal("the other staged volume lost its mount")
		}
	})
}

func FuzzNodePublishVolume(f *testing.F) {
	for _, s := range []struct {
		id, staging, target string
		shape               uint8
		mode                int32
		readonly            bool
		flag                string
	}{ // from TestNodeStagePublishRoundTrip, TestNodeBadInput and TestNodeSingleWriterPublishesOnce
		{"vol-a", "/staging/a", "/pods/b/mount", 3, 1, false, ""},
		{"vol-a", "/staging/a", "/pods/b/mount", 3, 1, true, "noexec"},
		{"vol-a", "/staging/a", "/pods/a/mount", 3, 1, false, ""},
		{"vol-a", "/staging/a", "/pods/a/mount", 3, 1, true, ""},
		{"vol-b", "/staging/a", "/pods/b/mount", 3, 1, false, ""},
		{"vol-a", "/staging/x", "/pods/b/mount", 3, 1, false, ""},
		{"", "/staging/a", "/pods/b/mount", 3, 1, false, ""},
		{"vol-a", "", "/pods/b/mount", 3, 1, false, ""},
		{"vol-a", "/staging/a", "", 3, 1, false, ""},
		{"vol-a", "/staging/a", "/pods/b/mount", 0, 1, false, ""},
		{"vol-a", "/staging/a", "/pods/b/mount", 1, 1, false, ""},
		{"vol-a", "/staging/a", "/pods/b/mount", 3, 6, false, ""},
		{"vol-a", "/staging/a", "pods/b/mount", 3, 1, false, ""},
		{"vol-a", "/staging/a", "/pods/b/../../../../etc", 3, 1, false, ""},
		{"vol-a", "/staging/a", "/staging/a", 3, 1, false, ""},
		{"vol-a", "/staging/a", "/staging/a/inside", 3, 1, false, ""},
		{"vol-a", "/staging/a", "/staging", 3, 1, false, ""},
		{"vol-a", "/staging/a", "/pods/a", 3, 1, false, ""},
		{"vol-a", "/staging/a", "/pods/a/mount/sub", 3, 1, false, ""},
		{"vol-a", "/staging/a", "/pods/b/mo\x00unt", 3, 1, false, ""},
		{"vol-a", "/staging/a", "/pods/b/mount", 3, 1, false, "remount,suid"},
	} {
		f.Add(s.id, s.staging, s.target, s.shape, s.mode, s.readonly, s.flag)
	}
	cwd := fuzzCwd(f)
	f.Fuzz(func(t *testing.T, id, staging, target string, shape uint8, mode int32, readonly bool, flag string) {
		e := newFuzzNode(t, cwd)
		ctx := context.Background()
		dir, path := e.path(staging), e.path(target)
		req := &csi.NodePublishVolumeRequest{VolumeId: id, StagingTargetPath: dir, TargetPath: path,
			VolumeCapability: fuzzCap(shape, mode, "", flag), Readonly: readonly}
		want := codes.OK
		m := req.VolumeCapability.GetAccessMode().GetMode()
		switch {
		case badIdentifier(id), badPath(dir), badPath(path), within(path, dir), within(dir, path), badCapability(req.VolumeCapability):
			want = codes.InvalidArgument
		case dir != e.staging || id != e.stagedID:
			want = codes.FailedPrecondition // not staged there
		case path != e.target && (within(path, e.target) || within(e.target, path) || within(path, e.staging) || within(e.staging, path)):
			want = codes.AlreadyExists // overlaps another mount
		case path != e.target && m == csi.VolumeCapability_AccessMode_SINGLE_NODE_SINGLE_WRITER:
			want = codes.FailedPrecondition // single writer, published already
		case path == e.target && readonly:
			want = codes.AlreadyExists // published read-write there
		}
		_, err := e.n.NodePublishVolume(ctx, req)
		got := checkErr(t, err, nil, nil, codes.OK, codes.InvalidArgument, codes.FailedPrecondition, codes.AlreadyExists)
		if got != want {
			t.Fatalf("code %v (%v), want %v", got, err, want)
		}
		if err != nil || path == e.target {
			e.unchanged(t, "NodePublishVolume")
			return
		}
		if !within(path, e.root) {
			t.Fatalf("published outside the root: %q", path)
		}
		mp, ok := e.mounter.mountedAt(path)
		if !ok || !slices.Contains(mp.Opts, "bind") || slices.Contains(mp.Opts, "ro") != (readonly || flag == "ro") {
			t.Fatalf("mount %+v %v", mp, ok)
		}
		if _, err := e.n.NodePublishVolume(ctx, req); err != nil {
			t.Fatalf("repeat: %v", err)
		}
		if _, err := e.n.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: id, TargetPath: path}); err != nil {
			t.Fatal(err)
		}
		if _, ok := e.mounter.mountedAt(path); ok {
			t.Fatal("still mounted after unpublish")
		}
		if _, err := os.Stat(path); err == nil {
			t.Fatal("target directory left after unpublish")
		}
	})
}

func FuzzNodeUnpublishVolume(f *testing.F) {
	for _, s := range []struct{ id, target string }{
		{"vol-a", "/pods/a/mount"}, {"vol-a", "/pods/b/mount"}, {"vol-b", "/pods/a/mount"}, {"", "/pods/a/mount"},
		{"vol-a", ""}, {"vol-a", "pods/a/mount"}, {"vol-a", "/pods/a/mount/"}, {"vol-a", "/pods/a/../a/mount"},
		{"vol-a", "/staging/a"}, {"vol-a", "/staging"}, {"vol-a", "/pods"}, {"vol-a", "/pods/a/mount/x"},
		{"vol-a", "/"}, {"vol-a", "/pods/a/mount\x00"}, {"vol-a", "/../../proc"},
	} {
		f.Add(s.id, s.target)
	}
	cwd := fuzzCwd(f)
	f.Fuzz(func(t *testing.T, id, target string) {
		e := newFuzzNode(t, cwd)
		ctx := context.Background()
		path := e.path(target)
		want := codes.OK
		switch {
		case badIdentifier(id), badPath(path):
			want = codes.InvalidArgument
		case path == e.target && id != e.stagedID,
			path != e.target && (within(path, e.target) || within(e.target, path) || within(path, e.staging) || within(e.staging, path)):
			want = codes.FailedPrecondition
		}
		_, err := e.n.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: id, TargetPath: path})
		if got := checkErr(t, err, nil, nil, codes.OK, codes.InvalidArgument, codes.FailedPrecondition); got != want {
			t.Fatalf("code %v (%v), want %v", got, err, want)
		}
		if err != nil || path != e.target {
			e.unchanged(t, "NodeUnpublishVolume")
			return
		}
		if _, ok := e.mounter.mountedAt(e.target); ok {
			t.Fatal("target still mounted")
		}
		if v, _ := e.n.state.get(e.staging); len(v.Targets) != 0 {
			t.Fatalf("target still recorded: %+v", v)
		}
		if _, ok := e.mounter.mountedAt(e.staging); !ok {
			t.Fatal("unpublish took down the staging mount")
		}
	})
}

func FuzzNodeUnstageVolume(f *testing.F) {
	for _, s := range []struct{ id, staging string }{
		{"vol-a", "/staging/a"}, {"vol-b", "/staging/a"}, {"vol-a", "/staging/b"}, {"", "/staging/a"}, {"vol-a", ""},
		{"vol-a", "staging/a"}, {"vol-a", "/staging/a/"}, {"vol-a", "/staging/b/../a"}, {"vol-a", "/pods/a/mount"},
		{"vol-a", "/staging"}, {"vol-a", "/staging/a/x"}, {"vol-a", "/"}, {"vol-a", "/../../../tmp"}, {"v\x00", "/staging/a"},
	} {
		f.Add(s.id, s.staging)
	}
	cwd := fuzzCwd(f)
	f.Fuzz(func(t *testing.T, id, staging string) {
		e := newFuzzNode(t, cwd)
		ctx := context.Background()
		dir := e.path(staging)
		want := codes.OK
		switch {
		case badIdentifier(id), badPath(dir):
			want = codes.InvalidArgument
		case dir == e.staging && id != e.stagedID,
			dir != e.staging && (within(dir, e.target) || within(e.target, dir) || within(dir, e.staging) || within(e.staging, dir)):
			want = codes.FailedPrecondition
		}
		_, err := e.n.NodeUnstageVolume(ctx, &csi.NodeUnstageVolumeRequest{VolumeId: id, StagingTargetPath: dir})
		if got := checkErr(t, err, nil, nil, codes.OK, codes.InvalidArgument, codes.FailedPrecondition); got != want {
			t.Fatalf("code %v (%v), want %v", got, err, want)
		}
		if err != nil || dir != e.staging {
			e.unchanged(t, "NodeUnstageVolume")
			return
		}
		if len(e.n.state.all()) != 0 || len(e.stager.served) != 0 {
			t.Fatal("still staged")
		}
		if mps, _ := e.mounter.List(); len(mps) != 0 {
			t.Fatalf("mounts left: %+v", mps)
		}
	})
}

func FuzzNodeGetVolumeStats(f *testing.F) {
	for _, s := range []struct{ id, path string }{ // from TestNodeStatsAndHealth
		{"vol-a", "/staging/a"}, {"vol-a", "/pods/a/mount"}, {"vol-b", "/staging/a"}, {"vol-a", "/pods/b/mount"},
		{"", "/staging/a"}, {"vol-a", ""}, {"vol-a", "some/path"}, {"vol-a", "/staging/a/../a"}, {"vol-a", "/staging/a\x00"},
	} {
		f.Add(s.id, s.path)
	}
	cwd := fuzzCwd(f)
	f.Fuzz(func(t *testing.T, id, path string) {
		e := newFuzzNode(t, cwd)
		p := e.path(path)
		want := codes.OK
		switch {
		case badIdentifier(id), p == "":
			want = codes.InvalidArgument
		case id != e.stagedID || (p != e.staging && p != e.target):
			want = codes.NotFound
		}
		resp, err := e.n.NodeGetVolumeStats(context.Background(), &csi.NodeGetVolumeStatsRequest{VolumeId: id, VolumePath: p})
		if got := checkErr(t, err, nil, nil, codes.OK, codes.InvalidArgument, codes.NotFound); got != want {
			t.Fatalf("code %v (%v), want %v", got, err, want)
		}
		if err == nil && len(resp.GetUsage()) != 2 {
			t.Fatalf("usage %v", resp.GetUsage())
		}
		e.unchanged(t, "NodeGetVolumeStats")
	})
}
