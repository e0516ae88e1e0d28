package driver

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
)

func TestStateFileRoundTrip(t *testing.T) {
	dir := t.TempDir()
	s, err := loadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	v := stagedVolume{VolumeID: "v", StagingPath: "/s", Sharing: SharingCluster, Cred: Credentials{Username: "u", Password: "p"},
		Targets: map[string]target{"/t": {ReadOnly: true}}}
	if err := s.update("/s", func(x *stagedVolume, ok bool) bool { *x = v; return true }); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, stateFileName))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file mode %v: it holds credentials", fi.Mode().Perm())
	}
	s2, err := loadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	got, ok := s2.get("/s")
	if !ok || got.VolumeID != "v" || got.Sharing != SharingCluster || got.Cred.Password != "p" || !got.Targets["/t"].ReadOnly {
		t.Fatalf("reloaded %+v", got)
	}
	if found, ok := s2.findPath("/t"); !ok || found.StagingPath != "/s" {
		t.Fatal("target not found")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("left temporary files: %v", entries)
	}
}

func TestStateFileCorrupt(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, stateFileName), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadState(dir); err == nil {
		t.Fatal("corrupt state file accepted")
	}
}

func TestStateSaveFailureRollsBack(t *testing.T) {
	dir := t.TempDir()
	s, err := loadState(filepath.Join(dir, "state"))
	if err != nil {
		t.Fatal(err)
	}
	// Replace the state directory by a file: saving fails.
	if err := os.RemoveAll(s.dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.dir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	err = s.update("/s", func(x *stagedVolume, ok bool) bool { x.VolumeID = "v"; return true })
	if err == nil {
		t.Fatal("save into a file succeeded")
	}
	if _, ok := s.get("/s"); ok {
		t.Fatal("failed update kept in memory")
	}
}

// TestRestartRestoresMounts: a new node service on the same state directory mounts again what was staged and
// published before, with the recorded credentials and modes.
func TestRestartRestoresMounts(t *testing.T) {
	e := newNodeEnv(t)
	ctx := context.Background()
	req := e.stageReq("v", csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER)
	_, err := e.n.NodeStageVolume(ctx, req)
	wantCode(t, err, codes.OK)
	p := e.publishReq("v", "t", true)
	_, err = e.n.NodePublishVolume(ctx, p)
	wantCode(t, err, codes.OK)
	gone := e.publishReq("v", "gone", false)
	_, err = e.n.NodePublishVolume(ctx, gone)
	wantCode(t, err, codes.OK)

	// The process dies: its FUSE servers are gone, the mounts are dead; the CO removed one target meanwhile.
	e.stager.forget()
	if err := e.mounter.FakeMounter.Unmount(gone.TargetPath); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(gone.TargetPath); err != nil {
		t.Fatal(err)
	}
	e.restart(t)
	e.n.stat = corruptedStat(e.mounter, req.StagingTargetPath, p.TargetPath)
	e.stager.StageErr = context.DeadlineExceeded // first attempt: storage down
	if err := e.n.restoreOne(ctx, e.n.state.all()[0]); err == nil {
		t.Fatal("restore with storage down succeeded")
	}
	e.stager.StageErr = nil
	e.n.restore(ctx)
	got, ok := e.stager.served[req.StagingTargetPath]
	if !ok || got.Cred.Username != "u" || got.Sharing != SharingCluster || got.VolumeID != "v" {
		t.Fatalf("not restaged: %+v %v", got, ok)
	}
	mp, ok := e.mounter.mountedAt(p.TargetPath)
	if !ok || mp.Device != "cassfs" {
		t.Fatalf("target not bound again: %+v", mp)
	}
	if _, ok := e.mounter.mountedAt(gone.TargetPath); ok {
		t.Fatal("removed target was mounted again")
	}
	// Stats work through the restored (now live) mounts.
	e.n.stat = os.Stat
	_, err = e.n.NodeGetVolumeStats(ctx, &csi.NodeGetVolumeStatsRequest{VolumeId: "v", VolumePath: p.TargetPath})
	wantCode(t, err, codes.OK)
	b, _ := os.ReadFile(filepath.Join(e.state, stateFileName))
	var file struct{ Volumes []stagedVolume }
	if err := json.Unmarshal(b, &file); err != nil || len(file.Volumes) != 1 {
		t.Fatalf("state %s: %v", b, err)
	}
}
