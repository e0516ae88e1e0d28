package cassandra

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
	"testing/quick"
)

func TestParseVolumeSpecDefaults(t *testing.T) {
	s, err := ParseVolumeSpec("pvc-1", 1<<30, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := VolumeSpec{ID: "pvc-1", CapacityBytes: 1 << 30, Replication: Replication{Class: SimpleStrategy, Factor: 1},
		Consistency: "LOCAL_QUORUM", SerialConsistency: "LOCAL_SERIAL", ChunkSize: DefaultChunkSize,
		BlockSize: DefaultBlockSize, Compression: "zstd"}
	if fmt.Sprint(s) != fmt.Sprint(want) {
		t.Fatalf("got %+v\nwant %+v", s, want)
	}
}

func TestParseVolumeSpecValid(t *testing.T) {
	for _, tc := range []struct {
		params map[string]string
		check  func(VolumeSpec) bool
	}{
		{map[string]string{"replicationFactor": "3"}, func(s VolumeSpec) bool { return s.Replication.Factor == 3 }},
		{map[string]string{"replication": "SimpleStrategy", "replicationFactor": "2"},
			func(s VolumeSpec) bool { return s.Replication.Class == SimpleStrategy && s.Replication.Factor == 2 }},
		{map[string]string{"dcReplication": "dc1:3,dc2:2"}, func(s VolumeSpec) bool {
			return s.Replication.Class == NetworkTopologyStrategy && s.Replication.DCFactors["dc1"] == 3 &&
				s.Replication.DCFactors["dc2"] == 2
		}},
		{map[string]string{"replication": "NetworkTopologyStrategy", "dcReplication": "dc1:1"},
			func(s VolumeSpec) bool { return s.Replication.DCFactors["dc1"] == 1 }},
		{map[string]string{"consistency": "QUORUM", "serialConsistency": "SERIAL"},
			func(s VolumeSpec) bool { return s.Consistency == "QUORUM" && s.SerialConsistency == "SERIAL" }},
		{map[string]string{"chunkSize": "4Mi", "blockSize": "64Ki"},
			func(s VolumeSpec) bool { return s.ChunkSize == 4<<20 && s.BlockSize == 64<<10 }},
		{map[string]string{"chunkSize": "4096", "blockSize": "4096"},
			func(s VolumeSpec) bool { return s.ChunkSize == 4096 && s.BlockSize == 4096 }},
		{map[string]string{"compression": "none"}, func(s VolumeSpec) bool { return s.Compression == "none" }},
		{map[string]string{"maxInodes": "100"}, func(s VolumeSpec) bool { return s.MaxInodes == 100 }},
	} {
		s, err := ParseVolumeSpec("v", 0, tc.params)
		if err != nil {
			t.Errorf("%v: %v", tc.params, err)
			continue
		}
		if !tc.check(s) {
			t.Errorf("%v: got %+v", tc.params, s)
		}
		if err := s.Validate(); err != nil {
			t.Errorf("%v: Validate of parsed spec: %v", tc.params, err)
		}
	}
}

// invalidParams are rejected by ParseVolumeSpec, each naming key in its error. Several try to smuggle CQL into
// the CREATE KEYSPACE statement.
var invalidParams = []struct {
	params map[string]string
	key    string
}{
	{map[string]string{"bogus": "1"}, "bogus"},
	{map[string]string{"Replication": "SimpleStrategy"}, "Replication"},
	{map[string]string{"replication": "LocalStrategy"}, "replication"},
	{map[string]string{"replication": "SimpleStrategy'} AND durable_writes = false; --"}, "replication"},
	{map[string]string{"replicationFactor": "0"}, "replicationFactor"},
	{map[string]string{"replicationFactor": "17"}, "replicationFactor"},
	{map[string]string{"replicationFactor": "-1"}, "replicationFactor"},
	{map[string]string{"replicationFactor": "1}; DROP KEYSPACE system_auth; --"}, "replicationFactor"},
	{map[string]string{"replicationFactor": "3", "dcReplication": "dc1:3"}, "replicationFactor"},
	{map[string]string{"replication": "NetworkTopologyStrategy"}, "dcReplication"},
	{map[string]string{"replication": "SimpleStrategy", "dcReplication": "dc1:1"}, "dcReplication"},
	{map[string]string{"dcReplication": ""}, "dcReplication"},
	{map[string]string{"dcReplication": "dc1"}, "dcReplication"},
	{map[string]string{"dcReplication": "dc1:0"}, "dcReplication"},
	{map[string]string{"dcReplication": "dc1:1,dc1:2"}, "dcReplication"},
	{map[string]string{"dcReplication": "dc1':1}; DROP TABLE x; --:1"}, "dcReplication"},
	{map[string]string{"dcReplication": "dc1:1, 'class': 'SimpleStrategy"}, "dcReplication"},
	{map[string]string{"dcReplication": "d c:1"}, "dcReplication"},
	{map[string]string{"consistency": "ANY"}, "consistency"},
	{map[string]string{"consistency": "local_quorum"}, "consistency"},
	{map[string]string{"consistency": "QUORUM; DROP"}, "consistency"},
	{map[string]string{"serialConsistency": "QUORUM"}, "serialConsistency"},
	{map[string]string{"chunkSize": "0"}, "chunkSize"},
	{map[string]string{"chunkSize": "1Ti"}, "chunkSize"},
	{map[string]string{"chunkSize": "1000"}, "chunkSize"},
	{map[string]string{"chunkSize": "512Mi"}, "chunkSize"},
	{map[string]string{"chunkSize": "6000", "blockSize": "4096"}, "chunkSize"},
	{map[string]string{"blockSize": "3000"}, "blockSize"},
	{map[string]string{"blockSize": "2Mi"}, "blockSize"},
	{map[string]string{"blockSize": "abc"}, "blockSize"},
	{map[string]string{"compression": "lz4"}, "compression"},
	{map[string]string{"maxInodes": "-5"}, "maxInodes"},
}

func TestParseVolumeSpecInvalid(t *testing.T) {
	for _, tc := range invalidParams {
		_, err := ParseVolumeSpec("v", 0, tc.params)
		if !errors.Is(err, ErrInvalidParameter) {
			t.Errorf("%v: got %v, want ErrInvalidParameter", tc.params, err)
			continue
		}
		if !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%v: error %q does not name %q", tc.params, err, tc.key)
		}
	}
}

func TestParseVolumeSpecBadIDs(t *testing.T) {
	for _, id := range []string{"", strings.Repeat("a", MaxVolumeIDLen+1), "a\x00b", "new\nline", "\xff\xfe"} {
		if _, err := ParseVolumeSpec(id, 0, nil); !errors.Is(err, ErrInvalidParameter) {
			t.Errorf("id %q: got %v", id, err)
		}
	}
}

var keyspaceRule = regexp.MustCompile(`^[a-z][a-z0-9_]{0,47}$`)

func TestKeyspaceNameProperties(t *testing.T) {
	seen := map[string]string{}
	check := func(id string) bool {
		ks := KeyspaceName(id)
		if !keyspaceRule.MatchString(ks) || !isVolumeKeyspace(ks) {
			t.Errorf("KeyspaceName(%q) = %q breaks the rule", id, ks)
			return false
		}
		if KeyspaceName(id) != ks {
			t.Errorf("KeyspaceName(%q) is not deterministic", id)
			return false
		}
		if prev, ok := seen[ks]; ok && prev != id {
			t.Errorf("KeyspaceName(%q) == KeyspaceName(%q) == %q", id, prev, ks)
			return false
		}
		seen[ks] = id
		return true
	}
	if err := quick.Check(check, &quick.Config{MaxCount: 20000}); err != nil {
		t.Fatal(err)
	}
	// Ids that sanitize to the same readable part must still differ.
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 20000; i++ {
		b := []byte("PVC-")
		for j := 0; j < r.IntN(100); j++ {
			b = append(b, "aA-_.!/é"[r.IntN(8)])
		}
		check(string(b))
	}
	for _, id := range []string{"a", "A", "a-", "a_", "a.", strings.Repeat("x", 128), "pvc-Ünïcode", "'; DROP"} {
		check(id)
	}
	if KeyspaceName("A") == KeyspaceName("a") {
		t.Error("case-different ids collide")
	}
}

func TestReplicationCQL(t *testing.T) {
	got, err := replicationCQL(Replication{Class: NetworkTopologyStrategy, DCFactors: map[string]int{"dc2": 2, "dc1": 3}})
	if err != nil || got != "{'class': 'NetworkTopologyStrategy', 'dc1': 3, 'dc2': 2}" {
		t.Fatalf("got %q, %v", got, err)
	}
	if _, err := replicationCQL(Replication{Class: NetworkTopologyStrategy, DCFactors: map[string]int{"x'": 1}}); err == nil {
		t.Fatal("quote in a datacenter name accepted")
	}
}
