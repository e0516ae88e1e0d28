package driver

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
)

// fuzzController is a controller on a fake back end that parses parameters with pkg/cassandra.
func fuzzController() (*controller, *fakeBackend) {
	b := newFakeBackend()
	b.parse = cassandraParse
	return newController(b, quietLog()), b
}

func FuzzCreateVolume(f *testing.F) {
	type seed struct {
		name               string
		required, limit    int64
		hasRange           bool
		key, val, reclaim  string
		user, pass, digest string
		shape              uint8
		mode               int32
		fsType             string
	}
	for _, s := range []seed{ // from TestCreateVolumeBadInput, TestCreateVolumeIdempotentByName and the CQL tests
		{name: "pvc-1", required: 1 << 30, hasRange: true, key: "replicationFactor", val: "1", shape: 3, mode: 1},
		{name: "", shape: 3, mode: 1},
		{name: "a", shape: 0, mode: 1},
		{name: "a", shape: 1, mode: 1},
		{name: "a", shape: 3, mode: 0},
		{name: "a", shape: 2, mode: 1},
		{name: "a", shape: 3, mode: 1, fsType: "ext4"},
		{name: "a", required: 10, limit: 5, hasRange: true, shape: 3, mode: 1},
		{name: "a", required: -1, hasRange: true, shape: 3, mode: 1},
		{name: "a", limit: 5 << 20, hasRange: true, shape: 3, mode: 5},
		{name: "a", reclaim: "later", shape: 3, mode: 1},
		{name: "a", reclaim: "Retain", shape: 3, mode: 7},
		{name: "a", key: "colour", val: "blue", shape: 3, mode: 1},
		{name: "a", key: "replication", val: "SimpleStrategy'} AND durable_writes = false; --", shape: 3, mode: 1},
		{name: "a", key: "dcReplication", val: "dc1':1}; DROP TABLE x; --:1", shape: 3, mode: 1},
		{name: "a", key: "csi.storage.k8s.io/pvc/name", val: "x'; DROP KEYSPACE system; --", shape: 3, mode: 1},
		{name: "pvc-'; DROP KEYSPACE system_auth; --", shape: 3, mode: 1},
		{name: "pvc\x00nul", shape: 3, mode: 1},
		{name: "pvc-\u0085", shape: 3, mode: 1},
		{name: strings.Repeat("n", 129), shape: 3, mode: 1},
		{name: "pvc-Ünïcode-✓", shape: 3, mode: 6, fsType: "fuse.cassfs"},
		{name: "a", user: "cassandra", pass: "s3cret-password", digest: "vol:zk-secret", shape: 3, mode: 1},
		{name: "a", pass: "orphan-password", shape: 3, mode: 1},
		{name: "a", user: "x\x00cassandra", pass: "p", shape: 3, mode: 1},
		{name: "a", user: "u", pass: "p", digest: "no-colon-secret", shape: 3, mode: 1},
	} {
		f.Add(s.name, s.required, s.limit, s.hasRange, s.key, s.val, s.reclaim, s.user, s.pass, s.digest, s.shape, s.mode, s.fsType)
	}
	f.Fuzz(func(t *testing.T, name string, required, limit int64, hasRange bool, key, val, reclaim, user, pass, digest string,
		shape uint8, mode int32, fsType string) {
		c, b := fuzzController()
		ctx := context.Background()
		req := &csi.CreateVolumeRequest{Name: name, Secrets: fuzzSecrets(user, pass, digest),
			VolumeCapabilities: []*csi.VolumeCapability{fuzzCap(shape, mode, fsType, "")}, Parameters: map[string]string{}}
		if hasRange {
			req.CapacityRange = &csi.CapacityRange{RequiredBytes: required, LimitBytes: limit}
		} else {
			required, limit = 0, 0
		}
		if key != "" {
			req.Parameters[key] = val
		}
		if reclaim != "" {
			req.Parameters[ParamReclaim] = reclaim
		}
		// The oracle.
		rv := req.Parameters[ParamReclaim]
		retain := strings.EqualFold(rv, "retain")
		storage := map[string]string{}
		if key != "" && key != ParamReclaim && !strings.HasPrefix(key, "csi.storage.k8s.io/") {
			storage[key] = val
		}
		capacity := uint64(max(limit, 0))
		if required > 0 {
			capacity = uint64(required)
		}
		invalid := badIdentifier(name) || badSecrets(req.Secrets) || badCapability(req.VolumeCapabilities[0]) ||
			required < 0 || limit < 0 || rv != "" && !retain && !strings.EqualFold(rv, "delete") ||
			cassandraParse(VolumeRequest{ID: volumeIDFor(name, retain), CapacityBytes: capacity, Parameters: storage}) != nil
		outOfRange := required >= 0 && limit > 0 && required > limit
		// A request with several faults may be refused for any of them.
		want := []codes.Code{codes.OK}
		switch {
		case invalid && outOfRange:
			want = []codes.Code{codes.InvalidArgument, codes.OutOfRange}
		case invalid:
			want = []codes.Code{codes.InvalidArgument}
		case outOfRange:
			want = []codes.Code{codes.OutOfRange}
		}
		public := []string{name, key, val, reclaim, fsType}

		resp, err := c.CreateVolume(ctx, req)
		checkErr(t, err, req.Secrets, public, want...)
		if err != nil {
			if len(b.vols) != 0 {
				t.Fatalf("a refused request created %v", b.vols)
			}
			return
		}
		v := resp.GetVolume()
		if v.GetVolumeId() != volumeIDFor(name, retain) || uint64(v.GetCapacityBytes()) != capacity ||
			v.GetVolumeContext()[ContextReclaim] != map[bool]string{true: "retain", false: "delete"}[retain] {
			t.Fatalf("volume %+v, want id %s capacity %d", v, volumeIDFor(name, retain), capacity)
		}
		if have, ok := b.vols[v.GetVolumeId()]; !ok || len(b.vols) != 1 || len(have.params) != len(storage) {
			t.Fatalf("back end holds %+v", b.vols)
		}
		again, err := c.CreateVolume(ctx, req)
		if err != nil || !proto.Equal(again, resp) {
			t.Fatalf("repeat: %v %v, want %v", again, err, resp)
		}
		vr, err := c.ValidateVolumeCapabilities(ctx, &csi.ValidateVolumeCapabilitiesRequest{VolumeId: v.GetVolumeId(),
			VolumeCapabilities: req.VolumeCapabilities, Parameters: req.Parameters, Secrets: req.Secrets})
		if err != nil || vr.GetConfirmed() == nil {
			t.Fatalf("validate of the created volume: %v %v", vr, err)
		}
		if _, err := c.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: v.GetVolumeId(), Secrets: req.Secrets}); err != nil {
			t.Fatal(err)
		}
		if _, kept := b.vols[v.GetVolumeId()]; kept != retain {
			t.Fatalf("after delete: kept %v, retain %v", kept, retain)
		}
	})
}

// existingName is the volume the DeleteVolume, ControllerExpandVolume and ValidateVolumeCapabilities fuzz tests
// find in their back end.
const existingName = "pvc-existing"

func FuzzDeleteVolume(f *testing.F) {
	for _, s := range []struct {
		id, user, pass, digest string
		useExisting, retain    bool
	}{
		{useExisting: true}, {useExisting: true, retain: true}, {id: ""}, {id: "no-such-volume"},
		{id: "cassfs-'; DROP KEYSPACE system; --"}, {id: "vol\x00"}, {id: strings.Repeat("v", 129)},
		{id: "../../etc/passwd"}, {useExisting: true, user: "u", pass: "delete-secret"}, {useExisting: true, digest: "bad"},
		{id: "cassfsr" + strings.Repeat("0", 32)},
	} {
		f.Add(s.id, s.useExisting, s.retain, s.user, s.pass, s.digest)
	}
	f.Fuzz(func(t *testing.T, id string, useExisting, retain bool, user, pass, digest string) {
		c, b := fuzzController()
		ctx := context.Background()
		existing, err := c.CreateVolume(ctx, createReq(existingName, 1<<20, nil))
		if err != nil {
			t.Fatal(err)
		}
		keep := existing.GetVolume().GetVolumeId()
		if useExisting {
			id = volumeIDFor(existingName, retain)
		}
		req := &csi.DeleteVolumeRequest{VolumeId: id, Secrets: fuzzSecrets(user, pass, digest)}
		want := codes.OK
		if badIdentifier(id) || badSecrets(req.Secrets) {
			want = codes.InvalidArgument
		}
		_, err = c.DeleteVolume(ctx, req)
		if got := checkErr(t, err, req.Secrets, []string{id}, codes.OK, codes.InvalidArgument); got != want {
			t.Fatalf("code %v (%v), want %v", got, err, want)
		}
		_, still := b.vols[keep]
		if gone := err == nil && id == keep; still == gone {
			t.Fatalf("existing volume present %v after delete of %q (err %v)", still, id, err)
		}
		if err != nil && b.deletes != 0 {
			t.Fatal("a refused delete reached the back end")
		}
	})
}

func FuzzControllerExpandVolume(f *testing.F) {
	for _, s := range []struct {
		id                    string
		useExisting, hasRange bool
		start                 uint64
		required, limit       int64
		shape                 uint8
		mode                  int32
	}{ // from TestControllerExpandVolume
		{useExisting: true, hasRange: true, start: 1 << 20, required: 2 << 20, shape: 3, mode: 1},
		{useExisting: true, hasRange: true, start: 1 << 20, required: 1 << 10, shape: 3, mode: 1},
		{useExisting: true, hasRange: true, start: 4 << 20, limit: 2 << 20},
		{useExisting: true, hasRange: true, start: 0, required: 5},
		{useExisting: true, hasRange: false, start: 1},
		{useExisting: true, hasRange: true, start: 1, required: -3},
		{useExisting: true, hasRange: true, start: 1, required: 9, limit: 3},
		{useExisting: true, hasRange: true, start: 1, required: 9, shape: 1, mode: 1},
		{id: "missing", hasRange: true, required: 1},
		{id: "", hasRange: true, required: 1},
		{id: "x\x7f", hasRange: true, required: 1},
	} {
		f.Add(s.id, s.useExisting, s.hasRange, s.start, s.required, s.limit, s.shape, s.mode)
	}
	f.Fuzz(func(t *testing.T, id string, useExisting, hasRange bool, start uint64, required, limit int64, shape uint8, mode int32) {
		c, b := fuzzController()
		ctx := context.Background()
		start %= 1 << 50
		existing, err := c.CreateVolume(ctx, createReq(existingName, int64(start), nil))
		if err != nil {
			t.Fatal(err)
		}
		if useExisting {
			id = existing.GetVolume().GetVolumeId()
		}
		req := &csi.ControllerExpandVolumeRequest{VolumeId: id, VolumeCapability: fuzzCap(shape, mode, "", "")}
		if hasRange {
			req.CapacityRange = &csi.CapacityRange{RequiredBytes: required, LimitBytes: limit}
		}
		want := codes.OK
		switch {
		case badIdentifier(id), !hasRange, required < 0, limit < 0,
			req.VolumeCapability != nil && badCapability(req.VolumeCapability):
			want = codes.InvalidArgument
		case limit > 0 && required > limit:
			want = codes.OutOfRange
		case !useExisting && id != existing.GetVolume().GetVolumeId():
			want = codes.NotFound
		case limit > 0 && start > uint64(limit):
			want = codes.OutOfRange
		}
		resp, err := c.ControllerExpandVolume(ctx, req)
		if got := checkErr(t, err, nil, nil, codes.OK, codes.InvalidArgument, codes.OutOfRange, codes.NotFound); got != want {
			t.Fatalf("code %v (%v), want %v", got, err, want)
		}
		now := b.vols[existing.GetVolume().GetVolumeId()].v.CapacityBytes
		asked := uint64(max(limit, 0))
		if required > 0 {
			asked = uint64(required)
		}
		switch {
		case err != nil || start == 0:
			if now != start {
				t.Fatalf("capacity %d, was %d (err %v)", now, start, err)
			}
		default:
			if now != max(start, asked) || uint64(resp.GetCapacityBytes()) != now || resp.GetNodeExpansionRequired() {
				t.Fatalf("capacity %d (response %v), want %d", now, resp, max(start, asked))
			}
		}
	})
}

func FuzzValidateVolumeCapabilities(f *testing.F) {
	for _, s := range []struct {
		id               string
		useExisting      bool
		shape            uint8
		mode             int32
		fsType, key, val string
	}{ // from TestValidateVolumeCapabilities
		{useExisting: true, shape: 3, mode: 1}, {useExisting: true, shape: 1, mode: 1}, {useExisting: true, shape: 3, mode: 0},
		{useExisting: true, shape: 0}, {useExisting: true, shape: 3, mode: 5, fsType: "xfs"},
		{useExisting: true, shape: 3, mode: 1, key: ParamReclaim, val: "sometimes"},
		{id: "missing", shape: 3, mode: 1}, {id: "", shape: 3, mode: 1}, {id: "\xff", shape: 3, mode: 1},
	} {
		f.Add(s.id, s.useExisting, s.shape, s.mode, s.fsType, s.key, s.val)
	}
	f.Fuzz(func(t *testing.T, id string, useExisting bool, shape uint8, mode int32, fsType, key, val string) {
		c, _ := fuzzController()
		ctx := context.Background()
		existing, err := c.CreateVolume(ctx, createReq(existingName, 1, nil))
		if err != nil {
			t.Fatal(err)
		}
		if useExisting {
			id = existing.GetVolume().GetVolumeId()
		}
		caps := []*csi.VolumeCapability{fuzzCap(shape, mode, fsType, "")}
		req := &csi.ValidateVolumeCapabilitiesRequest{VolumeId: id, VolumeCapabilities: caps, Parameters: map[string]string{key: val}}
		want := codes.OK
		switch {
		case badIdentifier(id):
			want = codes.InvalidArgument
		case id != existing.GetVolume().GetVolumeId():
			want = codes.NotFound
		}
		resp, err := c.ValidateVolumeCapabilities(ctx, req)
		if got := checkErr(t, err, nil, nil, codes.OK, codes.InvalidArgument, codes.NotFound); got != want {
			t.Fatalf("code %v (%v), want %v", got, err, want)
		}
		if err != nil {
			return
		}
		reclaimOK := key != ParamReclaim || val == "" || strings.EqualFold(val, "retain") || strings.EqualFold(val, "delete")
		wantConfirmed := !badCapability(caps[0]) && reclaimOK
		if got := resp.GetConfirmed() != nil; got != wantConfirmed {
			t.Fatalf("confirmed %v (%v), want %v", got, resp, wantConfirmed)
		}
		if wantConfirmed && !slices.EqualFunc(resp.GetConfirmed().GetVolumeCapabilities(), caps,
			func(a, b *csi.VolumeCapability) bool { return proto.Equal(a, b) }) {
			t.Fatalf("confirmed %v, asked %v", resp.GetConfirmed(), caps)
		}
		if !wantConfirmed && resp.GetMessage() == "" {
			t.Fatal("not confirmed, without a message")
		}
	})
}

func FuzzListVolumes(f *testing.F) {
	for _, s := range []struct {
		token string
		max   int32
		n     uint8
	}{ // from TestListVolumesPaging
		{"", 0, 5}, {"", 2, 5}, {"", 1, 0}, {"", -1, 3}, {"bogus", 1, 3}, {"after:", 3, 4},
		{"after:cassfs-8", 2, 6}, {"after:\xff\x00", 1, 2}, {"after:zzzz", 1, 3},
	} {
		f.Add(s.token, s.max, s.n)
	}
	f.Fuzz(func(t *testing.T, token string, maxEntries int32, n uint8) {
		c, b := fuzzController()
		ctx := context.Background()
		var all []string
		for i := 0; i < int(n%16); i++ {
			r, err := c.CreateVolume(ctx, createReq("pvc-"+string(rune('a'+i)), 1, nil))
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, r.GetVolume().GetVolumeId())
		}
		slices.Sort(all)
		want := codes.OK
		switch {
		case maxEntries < 0:
			want = codes.InvalidArgument
		case token != "" && !strings.HasPrefix(token, listTokenPrefix):
			want = codes.Aborted // the spec's code for a starting_token the plugin did not issue
		}
		resp, err := c.ListVolumes(ctx, &csi.ListVolumesRequest{StartingToken: token, MaxEntries: maxEntries})
		if got := checkErr(t, err, nil, nil, codes.OK, codes.InvalidArgument, codes.Aborted); got != want {
			t.Fatalf("code %v (%v), want %v", got, err, want)
		}
		if err != nil {
			return
		}
		after := strings.TrimPrefix(token, listTokenPrefix)
		var rest []string
		for _, id := range all {
			if id > after {
				rest = append(rest, id)
			}
		}
		// Follow the pages to the end: every volume after the token exactly once, in order.
		var seen []string
		for page := 0; ; page++ {
			if page > len(all)+1 {
				t.Fatal("paging does not end")
			}
			if maxEntries > 0 && len(resp.GetEntries()) > int(maxEntries) {
				t.Fatalf("%d entries, max %d", len(resp.GetEntries()), maxEntries)
			}
			for _, e := range resp.GetEntries() {
				seen = append(seen, e.GetVolume().GetVolumeId())
			}
			if resp.GetNextToken() == "" {
				break
			}
			if resp, err = c.ListVolumes(ctx, &csi.ListVolumesRequest{StartingToken: resp.GetNextToken(), MaxEntries: maxEntries}); err != nil {
				t.Fatal(err)
			}
		}
		if !slices.Equal(seen, rest) {
			t.Fatalf("listed %v, want %v", seen, rest)
		}
		if len(b.vols) != len(all) {
			t.Fatal("listing changed the volumes")
		}
	})
}

func FuzzParams(f *testing.F) {
	f.Add("pvc-1", "retain", "replicationFactor", "3", int64(1<<30), int64(0))
	f.Add("pvc-1", "DELETE", "csi.storage.k8s.io/pvc/name", "x", int64(0), int64(5))
	f.Add("", "later", "reclaim", "retain", int64(-1), int64(0))
	f.Add("n", "", "", "", int64(10), int64(5))
	f.Fuzz(func(t *testing.T, name, reclaim, key, val string, required, limit int64) {
		d, r := volumeIDFor(name, false), volumeIDFor(name, true)
		if retained(d) || !retained(r) || d == r || len(d) != len(r) || len(d) > 128 || badIdentifier(d) {
			t.Fatalf("ids %q %q", d, r)
		}
		in := map[string]string{key: val}
		if reclaim != "" {
			in[ParamReclaim] = reclaim
		}
		p, err := splitParams(in)
		rv := in[ParamReclaim]
		okReclaim := rv == "" || strings.EqualFold(rv, "retain") || strings.EqualFold(rv, "delete")
		if (err == nil) != okReclaim {
			t.Fatalf("splitParams(%v): %v", in, err)
		}
		if err != nil {
			checkErr(t, err, nil, nil, codes.InvalidArgument)
			return
		}
		if p.retain != strings.EqualFold(rv, "retain") {
			t.Fatalf("retain %v for %q", p.retain, rv)
		}
		for k := range p.storage {
			if k == ParamReclaim || strings.HasPrefix(k, "csi.storage.k8s.io/") {
				t.Fatalf("driver key %q reached the back end", k)
			}
		}
		if _, kept := p.storage[key]; kept != (key != ParamReclaim && !strings.HasPrefix(key, "csi.storage.k8s.io/")) {
			t.Fatalf("key %q kept %v", key, kept)
		}
		got, err := capacityFor(&csi.CapacityRange{RequiredBytes: required, LimitBytes: limit})
		switch {
		case required < 0 || limit < 0:
			checkErr(t, err, nil, nil, codes.InvalidArgument)
		case limit > 0 && required > limit:
			checkErr(t, err, nil, nil, codes.OutOfRange)
		case err != nil:
			t.Fatal(err)
		case required > 0 && got != uint64(required), required == 0 && got != uint64(limit):
			t.Fatalf("capacity %d for %d..%d", got, required, limit)
		}
	})
}
