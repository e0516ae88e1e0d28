package cassandra

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Errors of provisioning. They are wrapped with details; test with errors.Is.
var (
	// ErrInvalidParameter: a StorageClass parameter or volume id is malformed; the message names the key.
	ErrInvalidParameter = errors.New("cassandra: invalid parameter")
	// ErrVolumeExists: a volume of that id exists with an incompatible spec (or a keyspace-name collision).
	ErrVolumeExists = errors.New("cassandra: volume exists with a different spec")
	// ErrVolumeNotFound: no (completely created) volume has that id.
	ErrVolumeNotFound = errors.New("cassandra: volume not found")
)

// Replication strategies.
const (
	SimpleStrategy          = "SimpleStrategy"
	NetworkTopologyStrategy = "NetworkTopologyStrategy"
)

// Defaults and limits of a VolumeSpec.
const (
	DefaultConsistency       = "LOCAL_QUORUM"
	DefaultSerialConsistency = "LOCAL_SERIAL"
	DefaultChunkSize         = 64 << 20
	DefaultBlockSize         = 1 << 20
	DefaultCompression       = "zstd"
	MaxReplicationFactor     = 16
	MaxVolumeIDLen           = 128
	minBlockSize             = 4 << 10
	maxBlockSize             = 1 << 20
	maxChunkSize             = 256 << 20
)

// Replication is a keyspace's replication: SimpleStrategy with Factor, or NetworkTopologyStrategy with a factor
// per datacenter.
type Replication struct {
	Class     string // SimpleStrategy | NetworkTopologyStrategy
	Factor    int
	DCFactors map[string]int
}

// VolumeSpec is everything that defines a volume. It is stored with the volume (meta table, as JSON).
type VolumeSpec struct {
	ID                string
	CapacityBytes     uint64 // the quota; 0 means unlimited
	Replication       Replication
	Consistency       string // reads and writes; default LOCAL_QUORUM
	SerialConsistency string // the Paxos phase of LWTs; default LOCAL_SERIAL
	ChunkSize         uint64
	BlockSize         int
	Compression       string // zstd | none
	MaxInodes         uint64 // limit on inodes in use, the root included; 0 means unlimited
}

// Parameter keys accepted by ParseVolumeSpec.
const (
	ParamReplication       = "replication"
	ParamReplicationFactor = "replicationFactor"
	ParamDCReplication     = "dcReplication"
	ParamConsistency       = "consistency"
	ParamSerialConsistency = "serialConsistency"
	ParamChunkSize         = "chunkSize"
	ParamBlockSize         = "blockSize"
	ParamCompression       = "compression"
	ParamMaxInodes         = "maxInodes"
)

var knownParams = map[string]bool{
	ParamReplication: true, ParamReplicationFactor: true, ParamDCReplication: true, ParamConsistency: true,
	ParamSerialConsistency: true, ParamChunkSize: true, ParamBlockSize: true, ParamCompression: true, ParamMaxInodes: true,
}

var consistencies = map[string]bool{
	"ANY": false, "ONE": true, "TWO": true, "THREE": true, "QUORUM": true, "ALL": true, "LOCAL_QUORUM": true,
	"EACH_QUORUM": true, "LOCAL_ONE": true,
}

var serialConsistencies = map[string]bool{"SERIAL": true, "LOCAL_SERIAL": true}

// dcNameRE is what a datacenter name may look like. The names end up inside the replication map literal of
// CREATE KEYSPACE (CQL cannot bind it), so nothing else is allowed.
var dcNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,47}$`)

func invalid(key, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalidParameter, key, fmt.Sprintf(format, args...))
}

// ParseVolumeSpec validates StorageClass-style parameters and returns the spec of volume id with capacity bytes
// (0: unlimited). Errors wrap ErrInvalidParameter and name the offending key. Unknown keys are errors.
func ParseVolumeSpec(id string, capacity uint64, params map[string]string) (VolumeSpec, error) {
	if err := CheckVolumeID(id); err != nil {
		return VolumeSpec{}, err
	}
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !knownParams[k] {
			return VolumeSpec{}, invalid(strconv.Quote(k), "unknown parameter")
		}
	}
	s := VolumeSpec{ID: id, CapacityBytes: capacity, Consistency: DefaultConsistency,
		SerialConsistency: DefaultSerialConsistency, ChunkSize: DefaultChunkSize, BlockSize: DefaultBlockSize,
		Compression: DefaultCompression}
	class, hasClass := params[ParamReplication]
	rf, hasRF := params[ParamReplicationFactor]
	dcs, hasDCs := params[ParamDCReplication]
	switch {
	case hasClass && class != SimpleStrategy && class != NetworkTopologyStrategy:
		return VolumeSpec{}, invalid(ParamReplication, "must be %s or %s", SimpleStrategy, NetworkTopologyStrategy)
	case hasDCs && hasClass && class == SimpleStrategy:
		return VolumeSpec{}, invalid(ParamDCReplication, "needs %s", NetworkTopologyStrategy)
	case hasDCs && hasRF:
		return VolumeSpec{}, invalid(ParamReplicationFactor, "cannot be combined with %s", ParamDCReplication)
	case hasDCs:
		m, err := parseDCFactors(dcs)
		if err != nil {
			return VolumeSpec{}, err
		}
		s.Replication = Replication{Class: NetworkTopologyStrategy, DCFactors: m}
	case class == NetworkTopologyStrategy:
		return VolumeSpec{}, invalid(ParamDCReplication, "required with %s (e.g. \"dc1:3,dc2:2\")", NetworkTopologyStrategy)
	default:
		s.Replication = Replication{Class: SimpleStrategy, Factor: 1}
		if hasRF {
			n, err := parseFactor(ParamReplicationFactor, rf)
			if err != nil {
				return VolumeSpec{}, err
			}
			s.Replication.Factor = n
		}
	}
	if v, ok := params[ParamConsistency]; ok {
		if !consistencies[v] {
			return VolumeSpec{}, invalid(ParamConsistency, "unsupported consistency level %q", v)
		}
		s.Consistency = v
	}
	if v, ok := params[ParamSerialConsistency]; ok {
		if !serialConsistencies[v] {
			return VolumeSpec{}, invalid(ParamSerialConsistency, "must be SERIAL or LOCAL_SERIAL")
		}
		s.SerialConsistency = v
	}
	if v, ok := params[ParamBlockSize]; ok {
		n, err := parseSize(ParamBlockSize, v)
		if err != nil {
			return VolumeSpec{}, err
		}
		if n < minBlockSize || n > maxBlockSize || n&(n-1) != 0 {
			return VolumeSpec{}, invalid(ParamBlockSize, "must be a power of two from %d to %d", minBlockSize, maxBlockSize)
		}
		s.BlockSize = int(n)
	}
	if v, ok := params[ParamChunkSize]; ok {
		n, err := parseSize(ParamChunkSize, v)
		if err != nil {
			return VolumeSpec{}, err
		}
		s.ChunkSize = n
	}
	if s.ChunkSize < uint64(s.BlockSize) || s.ChunkSize > maxChunkSize || s.ChunkSize%uint64(s.BlockSize) != 0 {
		return VolumeSpec{}, invalid(ParamChunkSize, "must be a multiple of blockSize (%d), at most %d", s.BlockSize, maxChunkSize)
	}
	if v, ok := params[ParamCompression]; ok {
		if v != "zstd" && v != "none" {
			return VolumeSpec{}, invalid(ParamCompression, "must be zstd or none")
		}
		s.Compression = v
	}
	if v, ok := params[ParamMaxInodes]; ok {
		n, err := strconv.ParseUint(v, 10, 63)
		if err != nil {
			return VolumeSpec{}, invalid(ParamMaxInodes, "must be a non-negative integer, got %q", v)
		}
		s.MaxInodes = n
	}
	return s, nil
}

// Validate checks a spec built by hand (not by ParseVolumeSpec) with the same rules.
func (s VolumeSpec) Validate() error {
	p := map[string]string{
		ParamConsistency: s.Consistency, ParamSerialConsistency: s.SerialConsistency,
		ParamChunkSize: strconv.FormatUint(s.ChunkSize, 10), ParamBlockSize: strconv.Itoa(s.BlockSize),
		ParamCompression: s.Compression, ParamMaxInodes: strconv.FormatUint(s.MaxInodes, 10),
	}
	switch s.Replication.Class {
	case SimpleStrategy:
		p[ParamReplicationFactor] = strconv.Itoa(s.Replication.Factor)
	case NetworkTopologyStrategy:
		var parts []string
		for dc, n := range s.Replication.DCFactors {
			parts = append(parts, dc+":"+strconv.Itoa(n))
		}
		p[ParamDCReplication] = strings.Join(parts, ",")
	default:
		return invalid(ParamReplication, "must be %s or %s", SimpleStrategy, NetworkTopologyStrategy)
	}
	_, err := ParseVolumeSpec(s.ID, s.CapacityBytes, p)
	return err
}

func parseFactor(key, v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > MaxReplicationFactor {
		return 0, invalid(key, "must be an integer from 1 to %d, got %q", MaxReplicationFactor, v)
	}
	return n, nil
}

func parseDCFactors(v string) (map[string]int, error) {
	m := map[string]int{}
	for _, part := range strings.Split(v, ",") {
		dc, f, ok := strings.Cut(strings.TrimSpace(part), ":")
		if !ok || !dcNameRE.MatchString(dc) {
			return nil, invalid(ParamDCReplication, "want \"dc:factor,...\" with names of [A-Za-z0-9_.-], got %q", part)
		}
		if _, dup := m[dc]; dup {
			return nil, invalid(ParamDCReplication, "datacenter %q given twice", dc)
		}
		n, err := parseFactor(ParamDCReplication, f)
		if err != nil {
			return nil, err
		}
		m[dc] = n
	}
	return m, nil
}

// parseSize reads a byte count: digits with an optional Ki, Mi or Gi suffix.
func parseSize(key, v string) (uint64, error) {
	mult := uint64(1)
	for suf, m := range map[string]uint64{"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30} {
		if strings.HasSuffix(v, suf) {
			v, mult = strings.TrimSuffix(v, suf), m
			break
		}
	}
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil || n == 0 {
		return 0, invalid(key, "must be a positive byte count (optionally with Ki, Mi or Gi), got %q", v)
	}
	return n * mult, nil
}

// CheckVolumeID validates a volume id: 1..MaxVolumeIDLen bytes of UTF-8 without control characters (C0, DEL
// and C1, U+0080-U+009F; pkg/driver checks CSI volume IDs with the same rule).
func CheckVolumeID(id string) error {
	if id == "" || len(id) > MaxVolumeIDLen || !utf8.ValidString(id) {
		return invalid("volumeID", "must be 1 to %d bytes of UTF-8", MaxVolumeIDLen)
	}
	for _, r := range id {
		if r < 0x20 || (r >= 0x7f && r <= 0x9f) {
			return invalid("volumeID", "control characters are not allowed")
		}
	}
	return nil
}

// Keyspace naming: "cassfs_" + up to 20 characters of the id lowered and with every character outside [a-z0-9]
// replaced by '_' + "_" + the first 20 hex digits (80 bits) of SHA-256 of the full id. The result is at most 48
// characters of [a-z0-9_], starts with a letter, and two ids share it only on a hash collision (which CreateVolume
// still detects: the meta table records the full id).
const (
	keyspacePrefix   = "cassfs_"
	keyspaceReadable = 20
	keyspaceHashHex  = 20
)

// KeyspaceName returns the keyspace that holds volume id (see the naming rule above).
func KeyspaceName(volumeID string) string {
	var b strings.Builder
	b.WriteString(keyspacePrefix)
	n := 0
	for i := 0; i < len(volumeID) && n < keyspaceReadable; i++ {
		c := volumeID[i]
		switch {
		case c >= 'A' && c <= 'Z':
			c += 'a' - 'A'
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		default:
			c = '_'
		}
		b.WriteByte(c)
		n++
	}
	sum := sha256.Sum256([]byte(volumeID))
	b.WriteByte('_')
	b.WriteString(hex.EncodeToString(sum[:])[:keyspaceHashHex])
	return b.String()
}

var keyspaceRE = regexp.MustCompile(`^cassfs_[a-z0-9_]{0,20}_[0-9a-f]{20}$`)

// isVolumeKeyspace reports whether name follows the KeyspaceName rule (so it may be spliced into CQL).
func isVolumeKeyspace(name string) bool { return keyspaceRE.MatchString(name) && len(name) <= 48 }
