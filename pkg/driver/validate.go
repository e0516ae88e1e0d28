package driver

import (
	"path/filepath"
	"strings"
	"unicode/utf8"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Request validation at the CSI edge. Every check returns an InvalidArgument status whose message names the
// field and says what is wrong, never the value of a secret. The rules:
//
//   - Names and volume IDs: required, at most maxIDLen bytes (the CSI size limit for strings), valid UTF-8 and no
//     control characters (the CSI spec bans C0 except tab, newline and carriage return, DEL and C1 in names;
//     CassFS bans all of them in both, as pkg/cassandra.CheckVolumeID does). Nothing else is refused: a name only
//     reaches storage through a SHA-256 hash (volumeIDFor), and a volume ID only through the keyspace naming rule
//     of pkg/cassandra, whose output is [a-z0-9_] by construction, so quotes, semicolons or comments in them
//     cannot reach CQL.
//   - Paths (staging_target_path, target_path, volume_path): required, absolute, clean (filepath.Clean leaves
//     them as they are: no "..", ".", "//" or trailing "/"), not "/", at most maxPathLen bytes with no component
//     over maxNameLen bytes (the kernel would refuse it with ENAMETOOLONG), valid UTF-8 and no
//     control characters (a NUL cannot be passed to a system call; a newline would corrupt /proc/self/mountinfo
//     lines). The CSI spec requires absolute paths; kubelet sends clean ones.
//   - Credential secrets (username, password, zookeeperDigest): at most maxSecretLen bytes, no control characters
//     (Cassandra's SASL PLAIN login separates the fields with NUL, so a NUL in a username would let a client
//     choose which part the server reads as the user), a password only with a username, and a ZooKeeper digest of
//     the form user:password with a non-empty user. Other secret keys are ignored.
const (
	maxIDLen     = 128
	maxPathLen   = 4095 // PATH_MAX less the terminating NUL
	maxNameLen   = 255  // NAME_MAX: one component of a path
	maxSecretLen = 4096 // the CSI size limit of a whole map
)

// badText reports what is wrong with s as text (invalid UTF-8 or a control character), or "".
func badText(s string) string {
	if !utf8.ValidString(s) {
		return "is not valid UTF-8"
	}
	for _, r := range s {
		if r < 0x20 || (r >= 0x7f && r <= 0x9f) {
			return "contains a control character"
		}
	}
	return ""
}

// checkName validates a CreateVolume name.
func checkName(name string) error { return checkIdentifier("name", name) }

// checkVolumeID validates the volume_id of a request.
func checkVolumeID(id string) error { return checkIdentifier("volume_id", id) }

func checkIdentifier(field, v string) error {
	switch {
	case v == "":
		return required(field)
	case len(v) > maxIDLen:
		return status.Errorf(codes.InvalidArgument, "%s is %d bytes long; at most %d are allowed", field, len(v), maxIDLen)
	}
	if why := badText(v); why != "" {
		return status.Errorf(codes.InvalidArgument, "%s %s", field, why)
	}
	return nil
}

// checkPath validates a path field of a node request (see the rules above).
func checkPath(field, p string) error {
	if p == "" {
		return required(field)
	}
	if len(p) > maxPathLen {
		return status.Errorf(codes.InvalidArgument, "%s is %d bytes long; at most %d are allowed", field, len(p), maxPathLen)
	}
	if why := badText(p); why != "" {
		return status.Errorf(codes.InvalidArgument, "%s %s", field, why)
	}
	if !filepath.IsAbs(p) {
		return status.Errorf(codes.InvalidArgument, "%s %q is not an absolute path", field, p)
	}
	if c := filepath.Clean(p); c != p {
		return status.Errorf(codes.InvalidArgument, "%s %q is not a clean path (it would be %q)", field, p, c)
	}
	if p == "/" {
		return status.Errorf(codes.InvalidArgument, "%s must not be the root directory", field)
	}
	for _, name := range strings.Split(p[1:], "/") {
		if len(name) > maxNameLen {
			return status.Errorf(codes.InvalidArgument, "%s has a component of %d bytes; at most %d are allowed",
				field, len(name), maxNameLen)
		}
	}
	return nil
}

// within reports whether path is dir or below it (both clean and absolute).
func within(path, dir string) bool {
	return path == dir || strings.HasPrefix(path, dir+"/")
}

// checkSecrets validates the credential keys of a request's secrets. Messages name keys, never values.
func checkSecrets(secrets map[string]string) error {
	for _, k := range []string{SecretUsername, SecretPassword, SecretZooKeeperDigest} {
		v, ok := secrets[k]
		if !ok {
			continue
		}
		if len(v) > maxSecretLen {
			return status.Errorf(codes.InvalidArgument, "secret %s is longer than %d bytes", k, maxSecretLen)
		}
		if why := badText(v); why != "" {
			return status.Errorf(codes.InvalidArgument, "secret %s %s", k, why)
		}
	}
	if secrets[SecretPassword] != "" && secrets[SecretUsername] == "" {
		return status.Errorf(codes.InvalidArgument, "secret %s is given without %s", SecretPassword, SecretUsername)
	}
	if d := secrets[SecretZooKeeperDigest]; d != "" {
		if user, _, found := strings.Cut(d, ":"); !found || user == "" {
			return status.Errorf(codes.InvalidArgument, "secret %s must have the form user:password", SecretZooKeeperDigest)
		}
	}
	return nil
}

// checkNodePath validates a path of a node request: checkPath, and below the node's path root when one is
// configured (NodeConfig.PathRoot, the kubelet directory).
func (n *node) checkNodePath(field, p string) error {
	if err := checkPath(field, p); err != nil {
		return err
	}
	if n.pathRoot != "" && !within(p, n.pathRoot) {
		return status.Errorf(codes.InvalidArgument, "%s %q is outside %s", field, p, n.pathRoot)
	}
	return nil
}

// pathUse says how a path is used by what is staged on this node.
type pathUse struct {
	volumeID string
	staging  string // the staging path of the volume that uses it
	path     string // the recorded path that overlaps (equal to, below or above the one asked about)
	target   bool   // path is a target (bind mount) rather than a staging path
}

// overlaps returns the recorded staging and target paths that are p, lie below p or lie above p.
func (s *nodeState) overlaps(p string) []pathUse {
	var out []pathUse
	for _, v := range s.all() {
		if within(p, v.StagingPath) || within(v.StagingPath, p) {
			out = append(out, pathUse{volumeID: v.VolumeID, staging: v.StagingPath, path: v.StagingPath})
		}
		for t := range v.Targets {
			if within(p, t) || within(t, p) {
				out = append(out, pathUse{volumeID: v.VolumeID, staging: v.StagingPath, path: t, target: true})
			}
		}
	}
	return out
}

// String describes a use for an error message.
func (u pathUse) String() string {
	if u.target {
		return "target path " + u.path + " of volume " + u.volumeID
	}
	return "staging path " + u.path + " of volume " + u.volumeID
}
