package cassandra

import (
	"errors"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// The fuzz tests of the parsers that decide what reaches CQL: ParseVolumeSpec (StorageClass parameters), the
// dcReplication string, and the keyspace naming rule. Seeds come from spec_test.go's tables; hack/fuzz.sh runs
// them with -fuzz.

// replicationCQLRE is every replication map literal CREATE KEYSPACE may receive: one of two classes, datacenter
// names of dcNameRE, small integers. Anything else (a quote, a semicolon, a comment) would be an injection.
var replicationCQLRE = regexp.MustCompile(`^\{'class': '(SimpleStrategy', 'replication_factor': ([1-9]|1[0-6])|` +
	`NetworkTopologyStrategy'(, '[A-Za-z0-9][A-Za-z0-9_.-]{0,47}': ([1-9]|1[0-6]))+)\}$`)

// specParams renders a parsed spec back into the parameters that produce it.
func specParams(s VolumeSpec) map[string]string {
	p := map[string]string{
		ParamConsistency: s.Consistency, ParamSerialConsistency: s.SerialConsistency, ParamCompression: s.Compression,
		ParamChunkSize: strconv.FormatUint(s.ChunkSize, 10), ParamBlockSize: strconv.Itoa(s.BlockSize),
		ParamMaxInodes: strconv.FormatUint(s.MaxInodes, 10), ParamReplication: s.Replication.Class,
	}
	if s.Replication.Class == SimpleStrategy {
		p[ParamReplicationFactor] = strconv.Itoa(s.Replication.Factor)
	} else {
		p[ParamDCReplication] = dcString(s.Replication.DCFactors)
	}
	return p
}

func dcString(m map[string]int) string {
	var parts []string
	for dc, n := range m {
		parts = append(parts, dc+":"+strconv.Itoa(n))
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

// checkAccepted checks what a successfully parsed spec promises: it validates, renders safe CQL, has a keyspace
// name of the rule, and parses again from its own rendering to the same spec.
func checkAccepted(t *testing.T, s VolumeSpec) {
	t.Helper()
	if err := s.Validate(); err != nil {
		t.Fatalf("Validate of a parsed spec %+v: %v", s, err)
	}
	cql, err := replicationCQL(s.Replication)
	if err != nil || !replicationCQLRE.MatchString(cql) {
		t.Fatalf("replication CQL %q (%v) of %+v", cql, err, s.Replication)
	}
	if ks := KeyspaceName(s.ID); !isVolumeKeyspace(ks) {
		t.Fatalf("keyspace %q of %q", ks, s.ID)
	}
	again, err := ParseVolumeSpec(s.ID, s.CapacityBytes, specParams(s))
	if err != nil || !reflect.DeepEqual(again, s) {
		t.Fatalf("round trip of %+v: %+v, %v", s, again, err)
	}
}

func FuzzParseVolumeSpec(f *testing.F) {
	f.Add("pvc-1", uint64(1<<30), "", "", "", "", "", "")
	f.Add("v", uint64(0), "replication", "SimpleStrategy", "replicationFactor", "2", "compression", "none")
	f.Add("v", uint64(0), "dcReplication", "dc1:3,dc2:2", "consistency", "QUORUM", "serialConsistency", "SERIAL")
	f.Add("v", uint64(0), "chunkSize", "4Mi", "blockSize", "64Ki", "maxInodes", "100")
	f.Add("\xff\xfe", uint64(0), "", "", "", "", "", "")
	f.Add("a\x00b", uint64(1), "", "", "", "", "", "")
	for _, tc := range invalidParams {
		var kv []string
		for k, v := range tc.params {
			kv = append(kv, k, v)
		}
		for len(kv) < 6 {
			kv = append(kv, "")
		}
		f.Add("v", uint64(0), kv[0], kv[1], kv[2], kv[3], kv[4], kv[5])
	}
	f.Fuzz(func(t *testing.T, id string, capacity uint64, k1, v1, k2, v2, k3, v3 string) {
		params := map[string]string{}
		for _, kv := range [][2]string{{k1, v1}, {k2, v2}, {k3, v3}} {
			if kv[0] != "" {
				params[kv[0]] = kv[1]
			}
		}
		s, err := ParseVolumeSpec(id, capacity, params)
		if err != nil {
			if !errors.Is(err, ErrInvalidParameter) || !strings.Contains(err.Error(), ": ") {
				t.Fatalf("error %v does not wrap ErrInvalidParameter with a reason", err)
			}
			return
		}
		if s.ID != id || s.CapacityBytes != capacity || CheckVolumeID(id) != nil {
			t.Fatalf("spec %+v for id %q", s, id)
		}
		for k := range params {
			if !knownParams[k] {
				t.Fatalf("unknown key %q accepted", k)
			}
		}
		checkAccepted(t, s)
	})
}

func FuzzDCReplication(f *testing.F) {
	for _, s := range []string{"dc1:3", "dc1:3,dc2:2", " dc1:1 , dc2:1", "", "dc1", "dc1:0", "dc1:1,dc1:2", "dc1:17",
		"dc1':1}; DROP TABLE x; --:1", "dc1:1, 'class': 'SimpleStrategy", "d c:1", "dc1:+1", "dc1:01", "ü:1", "a.b-c_d:16"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		s, err := ParseVolumeSpec("v", 0, map[string]string{ParamDCReplication: v})
		if err != nil {
			if !errors.Is(err, ErrInvalidParameter) || !strings.Contains(err.Error(), ParamDCReplication) {
				t.Fatalf("error %v does not name %s", err, ParamDCReplication)
			}
			return
		}
		if len(s.Replication.DCFactors) == 0 || s.Replication.Class != NetworkTopologyStrategy {
			t.Fatalf("replication %+v from %q", s.Replication, v)
		}
		for dc, n := range s.Replication.DCFactors {
			if !dcNameRE.MatchString(dc) || n < 1 || n > MaxReplicationFactor {
				t.Fatalf("datacenter %q: %d accepted from %q", dc, n, v)
			}
		}
		checkAccepted(t, s)
		again, err := parseDCFactors(dcString(s.Replication.DCFactors))
		if err != nil || !reflect.DeepEqual(again, s.Replication.DCFactors) {
			t.Fatalf("round trip of %q: %v %v", v, again, err)
		}
	})
}

func FuzzKeyspaceName(f *testing.F) {
	for _, id := range []string{"a", "A", "a-", "a_", "a.", strings.Repeat("x", 128), "pvc-Ünïcode", "'; DROP",
		"cassfs-0123456789abcdef0123456789abcdef", "x\"; --", "system_auth", "../../etc", "\x00"} {
		f.Add(id, id+"x")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		ka, kb := KeyspaceName(a), KeyspaceName(b)
		if !isVolumeKeyspace(ka) || !keyspaceRule.MatchString(ka) || KeyspaceName(a) != ka {
			t.Fatalf("KeyspaceName(%q) = %q breaks the rule", a, ka)
		}
		if (a == b) != (ka == kb) {
			t.Fatalf("KeyspaceName(%q) = %q, KeyspaceName(%q) = %q", a, ka, b, kb)
		}
		if err := CheckVolumeID(a); err != nil && !errors.Is(err, ErrInvalidParameter) {
			t.Fatalf("CheckVolumeID(%q): %v", a, err)
		}
	})
}
