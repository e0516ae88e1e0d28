package driver

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cassfs/cassfs/pkg/cassandra"
)

// The fuzz tests (fuzz_*_test.go) drive every CSI request path of the services on the fakes, with no server.
// Each states the request rules a second time, independently of validate.go, as an oracle ("want*" below), and
// checks for every input: no panic; an error has one of the codes the request may get, with a message; a request
// the oracle calls bad gets InvalidArgument (or the documented code) and changes nothing in the fakes; a request
// it calls good succeeds and round-trips. hack/fuzz.sh runs them; their seeds run in every `go test`.

// badIdentifier is the oracle for names and volume IDs: empty, over 128 bytes, not UTF-8, or a control character.
func badIdentifier(s string) bool {
	if s == "" || len(s) > 128 || !utf8.ValidString(s) {
		return true
	}
	return strings.IndexFunc(s, unicode.IsControl) >= 0
}

// badPath is the oracle for node paths: not an absolute clean path other than "/" of UTF-8 without controls,
// whose names are at most 255 bytes each.
func badPath(p string) bool {
	if p == "" || len(p) > 4095 || !utf8.ValidString(p) || strings.IndexFunc(p, unicode.IsControl) >= 0 ||
		!strings.HasPrefix(p, "/") || filepath.Clean(p) != p || p == "/" {
		return true
	}
	for _, name := range strings.Split(p, "/") {
		if len(name) > 255 {
			return true
		}
	}
	return false
}

// badSecrets is the oracle for credential secrets.
func badSecrets(s map[string]string) bool {
	for _, k := range []string{"username", "password", "zookeeperDigest"} {
		v, ok := s[k]
		if ok && (len(v) > 4096 || !utf8.ValidString(v) || strings.IndexFunc(v, unicode.IsControl) >= 0) {
			return true
		}
	}
	if s["password"] != "" && s["username"] == "" {
		return true
	}
	if d := s["zookeeperDigest"]; d != "" && (!strings.Contains(d, ":") || strings.HasPrefix(d, ":")) {
		return true
	}
	return false
}

// badCapability is the oracle for one volume capability.
func badCapability(c *csi.VolumeCapability) bool {
	if c == nil || c.GetMount() == nil {
		return true
	}
	switch c.GetMount().GetFsType() {
	case "", "cassfs", "fuse.cassfs":
	default:
		return true
	}
	m := c.GetAccessMode().GetMode()
	return m == csi.VolumeCapability_AccessMode_UNKNOWN || csi.VolumeCapability_AccessMode_Mode_name[int32(m)] == ""
}

// secretMark ends every fuzzed secret value, so that a value found in a message is the secret and not a word of
// the message's own text that the fuzzer happened to pick ("cassandra" is both a user name and an error prefix).
const secretMark = "\u2603"

// fuzzSecrets builds a secrets map; an empty argument leaves its key out, others get secretMark appended.
func fuzzSecrets(user, pass, digest string) map[string]string {
	s := map[string]string{}
	for k, v := range map[string]string{"username": user, "password": pass, "zookeeperDigest": digest} {
		if v != "" {
			s[k] = v + secretMark
		}
	}
	return s
}

// fuzzCap builds a capability: nil when shape is 0, block when 1, mount otherwise.
func fuzzCap(shape uint8, mode int32, fsType string, flag string) *csi.VolumeCapability {
	am := &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_Mode(mode)}
	switch shape % 4 {
	case 0:
		return nil
	case 1:
		return &csi.VolumeCapability{AccessType: &csi.VolumeCapability_Block{Block: &csi.VolumeCapability_BlockVolume{}}, AccessMode: am}
	case 2:
		return &csi.VolumeCapability{AccessMode: am} // no access type
	}
	var flags []string
	if flag != "" {
		flags = []string{flag}
	}
	return &csi.VolumeCapability{AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{
		FsType: fsType, MountFlags: flags}}, AccessMode: am}
}

// checkErr checks an error of a request: its code is one of allowed and it has a message that does not contain
// any of the secret values (that are not also part of the request's other fields, listed in public).
func checkErr(t *testing.T, err error, secrets map[string]string, public []string, allowed ...codes.Code) codes.Code {
	t.Helper()
	st := status.Convert(err)
	ok := false
	for _, c := range allowed {
		ok = ok || st.Code() == c
	}
	if !ok {
		t.Fatalf("code %v (%q), want one of %v", st.Code(), st.Message(), allowed)
	}
	if err != nil && strings.TrimSpace(st.Message()) == "" {
		t.Fatalf("code %v without a message", st.Code())
	}
	noSecretIn(t, st.Message(), secrets, public)
	return st.Code()
}

// noSecretIn fails when text contains a secret value of 4 bytes or more that is not part of a public field.
func noSecretIn(t *testing.T, text string, secrets map[string]string, public []string) {
	t.Helper()
	for k, v := range secrets {
		if len(v) < 4 || !strings.Contains(text, v) {
			continue
		}
		leaked := true
		for _, p := range public {
			leaked = leaked && !strings.Contains(p, v)
		}
		if leaked {
			t.Fatalf("secret %s leaked into %q", k, text)
		}
	}
}

// cassandraParse checks CreateVolume parameters with pkg/cassandra's parser, as the production back end does.
func cassandraParse(req VolumeRequest) error {
	if _, err := cassandra.ParseVolumeSpec(req.ID, req.CapacityBytes, req.Parameters); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return nil
}
