//go:build secure

package secure

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/go-zookeeper/zk"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	mount "k8s.io/mount-utils"

	"github.com/cassfs/cassfs/internal/testenv"
	"github.com/cassfs/cassfs/pkg/driver"
	"github.com/cassfs/cassfs/pkg/driver/cassbackend"
	"github.com/cassfs/cassfs/pkg/lock"
)

// NodeGrants are the only permissions a node's role needs on its volume's keyspace to stage and serve it
// (docs/driver-parameters.md, "Credentials"): reading and writing rows. Creating and dropping keyspaces and
// tables stays with the provisioner's role.
var NodeGrants = []string{
	`GRANT SELECT ON KEYSPACE %s TO %s`,
	`GRANT MODIFY ON KEYSPACE %s TO %s`,
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// tenant is one volume with a Cassandra role and a ZooKeeper digest of its own.
type tenant struct {
	name             string
	role, password   string
	digest           string // user:password for ZooKeeper
	volumeID         string
	keyspace         string
	volumeContext    map[string]string
	provisionSecrets map[string]string // the superuser's login and the tenant's digest (CreateVolume, DeleteVolume)
}

// nodeSecrets are what a node of the tenant stages with: its role and its digest.
func (tn *tenant) nodeSecrets() map[string]string {
	return map[string]string{driver.SecretUsername: tn.role, driver.SecretPassword: tn.password,
		driver.SecretZooKeeperDigest: tn.digest}
}

// newTenant creates a role (LOGIN, random password), provisions a multi-node volume through the controller (so its
// locks live in ZooKeeper under the tenant's digest) and grants the role NodeGrants on the volume's keyspace.
func newTenant(t *testing.T, p *plugin, su *gocql.Session, name string) *tenant {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tn := &tenant{name: name, role: testenv.UniqueName("cassfs_" + name + "_"), password: "pw-" + randomHex(t, 12),
		digest: "zk" + name + ":zkpw-" + randomHex(t, 12)}
	tn.provisionSecrets = map[string]string{driver.SecretUsername: superuser, driver.SecretPassword: superPassword,
		driver.SecretZooKeeperDigest: tn.digest}
	// A role name is an identifier of [a-z0-9_] and the password random hex: nothing here needs quoting.
	if err := su.Query(`CREATE ROLE ` + tn.role + ` WITH PASSWORD = '` + tn.password + `' AND LOGIN = true`).
		ExecContext(ctx); err != nil {
		t.Fatalf("create role %s: %v", tn.role, err)
	}
	t.Cleanup(func() {
		if err := su.Query(`DROP ROLE IF EXISTS ` + tn.role).Exec(); err != nil {
			t.Errorf("drop role %s: %v", tn.role, err)
		}
	})
	req := &csi.CreateVolumeRequest{Name: testenv.UniqueName("pvc-secure-" + name + "-"),
		Secrets: tn.provisionSecrets, CapacityRange: &csi.CapacityRange{RequiredBytes: 64 << 20},
		VolumeCapabilities: []*csi.VolumeCapability{multiWriter()}, Parameters: map[string]string{"replicationFactor": "1"}}
	var cv *csi.CreateVolumeResponse
	var err error
	for attempt := 1; ; attempt++ {
		// CreateVolume is idempotent and a CO retries it: on a loaded machine a fresh node's first lightweight
		// transactions can time out ("CAS operation timed out").
		if cv, err = p.ctrl.CreateVolume(ctx, req); err == nil {
			break
		}
		if attempt == 3 || status.Code(err) == codes.Unauthenticated || status.Code(err) == codes.PermissionDenied {
			t.Fatalf("create volume %s as the superuser: %v", name, err)
		}
		t.Logf("create volume %s (attempt %d): %v", name, attempt, err)
	}
	tn.volumeID, tn.volumeContext = cv.GetVolume().GetVolumeId(), cv.GetVolume().GetVolumeContext()
	tn.keyspace = tn.volumeContext[cassbackend.ContextKeyspace]
	t.Cleanup(func() {
		// DeleteVolume is idempotent, and a CO retries it: a DROP KEYSPACE that times out on a loaded machine
		// is tried again.
		var err error
		for attempt := 0; attempt < 3; attempt++ {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			_, err = p.ctrl.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: tn.volumeID, Secrets: tn.provisionSecrets})
			cancel()
			if err == nil {
				return
			}
			t.Logf("delete volume %s (attempt %d): %v", name, attempt+1, err)
		}
		t.Errorf("delete volume %s: %v", name, err)
		// The lock namespace is removed with the volume; without it the chroot cannot be removed either.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := lock.DeleteZKNamespace(ctx, lock.ZKConfig{Servers: p.zk.Servers, Chroot: p.zk.Chroot,
			Namespace: cassbackend.LockNamespace(tn.volumeID), Digest: tn.digest}); err != nil {
			t.Errorf("delete the lock namespace of %s: %v", name, err)
		}
	})
	for _, g := range NodeGrants {
		stmt := fmt.Sprintf(g, tn.keyspace, tn.role)
		if err := su.Query(stmt).ExecContext(ctx); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	return tn
}

// stage stages tn's volume at dir with secrets and returns the gRPC status.
func (p *plugin) stage(t *testing.T, tn *tenant, dir string, secrets map[string]string) *status.Status {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := os.MkdirAll(dir, 0o750); err != nil { // kubelet creates the staging directory
		t.Fatal(err)
	}
	_, err := p.node.NodeStageVolume(ctx, &csi.NodeStageVolumeRequest{VolumeId: tn.volumeID, StagingTargetPath: dir,
		VolumeCapability: multiWriter(), Secrets: secrets, VolumeContext: tn.volumeContext})
	return status.Convert(err)
}

func (p *plugin) unstage(t *testing.T, tn *tenant, dir string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := p.node.NodeUnstageVolume(ctx, &csi.NodeUnstageVolumeRequest{VolumeId: tn.volumeID, StagingTargetPath: dir}); err != nil {
		t.Errorf("unstage %s: %v", tn.name, err)
	}
}

// wantRefused checks that a request failed with code and that its message names no secret.
func wantRefused(t *testing.T, what string, st *status.Status, code codes.Code) {
	t.Helper()
	if st.Code() != code {
		t.Fatalf("%s: %v (%s), want %v", what, st.Code(), st.Message(), code)
	}
	t.Logf("%s: %v: %s", what, st.Code(), st.Message())
}

// zkConn is a raw ZooKeeper client authenticated with digest.
func zkConn(t *testing.T, servers []string, digest string) *zk.Conn {
	t.Helper()
	c, _, err := zk.Connect(servers, 10*time.Second, zk.WithLogInfo(false))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	if err := c.AddAuth("digest", []byte(digest)); err != nil {
		t.Fatalf("zookeeper AddAuth: %v", err)
	}
	return c
}

// znodes lists path and everything below it.
func znodes(t *testing.T, c *zk.Conn, path string) []string {
	t.Helper()
	out := []string{path}
	kids, _, err := c.Children(path)
	if err != nil {
		t.Fatalf("list %s with the owner's digest: %v", path, err)
	}
	for _, k := range kids {
		out = append(out, znodes(t, c, path+"/"+k)...)
	}
	return out
}

func isMounted(t *testing.T, dir string) bool {
	t.Helper()
	notMnt, err := mount.New("").IsLikelyNotMountPoint(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatalf("check mount point %s: %v", dir, err)
	}
	return err == nil && !notMnt
}

func fcntlLock(f *os.File) error {
	return syscall.FcntlFlock(f.Fd(), syscall.F_SETLK, &syscall.Flock_t{Type: syscall.F_WRLCK, Whence: 0})
}

// TestTenantIsolation provisions volumes A and B as the superuser, gives each a role that holds only NodeGrants
// on its own keyspace and a ZooKeeper digest of its own, and checks that A's credentials serve A through the CSI
// node service (a file written through the FUSE mount reads back, a POSIX lock goes through ZooKeeper) and reach
// nothing of B: staging B is refused with PermissionDenied and leaves no mount, session or lock namespace behind;
// A's role cannot read or write B's tables; A's digest cannot read, create or delete B's lock nodes. A wrong
// password gets Unauthenticated, clients without TLS or without the CA are refused, and no password or digest
// appears in the plugin's logs or in any error.
func TestTenantIsolation(t *testing.T) {
	su := superSession(t)
	servers := testenv.RequireZooKeeper(t)
	p := startPlugin(t)
	a, b := newTenant(t, p, su, "a"), newTenant(t, p, su, "b")
	var messages []string // every error message a client saw, scanned for secrets at the end
	record := func(st *status.Status) { messages = append(messages, st.Message()) }

	// A, with only its data permissions, stages A; a file written through the mount reads back.
	stageA := filepath.Join(p.dir, "staging-a")
	if st := p.stage(t, a, stageA, a.nodeSecrets()); st.Code() != codes.OK {
		t.Fatalf("stage A with A's role (%v): %v: %s", NodeGrants, st.Code(), st.Message())
	}
	defer p.unstage(t, a, stageA)
	data := []byte("volume A's data " + randomHex(t, 8))
	if err := os.WriteFile(filepath.Join(stageA, "file"), data, 0o644); err != nil {
		t.Fatalf("write through A's mount: %v", err)
	}
	if got, err := os.ReadFile(filepath.Join(stageA, "file")); err != nil || string(got) != string(data) {
		t.Fatalf("read back through A's mount: %q, %v", got, err)
	}
	fa, err := os.Create(filepath.Join(stageA, "locked"))
	if err != nil {
		t.Fatal(err)
	}
	if err := fcntlLock(fa); err != nil { // a multi-node volume: the lock is a znode under A's digest ACL
		t.Fatalf("POSIX lock on A: %v", err)
	}
	defer fa.Close()

	// A's credentials for B: refused with PermissionDenied, and nothing is created or changed.
	stageB := filepath.Join(p.dir, "staging-b")
	st := p.stage(t, b, stageB, a.nodeSecrets())
	record(st)
	wantRefused(t, "stage B with A's credentials", st, codes.PermissionDenied)
	if isMounted(t, stageB) {
		t.Fatalf("staging B with A's credentials left a mount at %s", stageB)
	}
	var sessions int
	if err := su.Query(`SELECT count(*) FROM ` + b.keyspace + `.sessions`).Scan(&sessions); err != nil || sessions != 0 {
		t.Fatalf("B's sessions after the refused stage: %d, %v; want 0", sessions, err)
	}
	if ok, _, err := zkConn(t, servers, b.digest).Exists(p.zk.Chroot + "/" + cassbackend.LockNamespace(b.volumeID)); err != nil || ok {
		t.Fatalf("the refused stage created B's lock namespace (exists %v, %v)", ok, err)
	}

	// B's own node stages B and holds a lock, so that B's lock nodes exist for the ZooKeeper checks below.
	if st := p.stage(t, b, stageB, b.nodeSecrets()); st.Code() != codes.OK {
		t.Fatalf("stage B with B's role: %v: %s", st.Code(), st.Message())
	}
	defer p.unstage(t, b, stageB)
	if err := os.WriteFile(filepath.Join(stageB, "file"), []byte("volume B's data"), 0o644); err != nil {
		t.Fatal(err)
	}
	fb, err := os.Create(filepath.Join(stageB, "locked"))
	if err != nil {
		t.Fatal(err)
	}
	if err := fcntlLock(fb); err != nil {
		t.Fatalf("POSIX lock on B: %v", err)
	}
	defer fb.Close()

	t.Run("CQLRoleIsolation", func(t *testing.T) {
		c, err := connect(t, clusterConfig(t, a.role, a.password))
		if err != nil {
			t.Fatalf("connect as A: %v", err)
		}
		s := c.Session()
		var n int
		if err := s.Query(`SELECT count(*) FROM ` + a.keyspace + `.inodes`).Scan(&n); err != nil || n == 0 {
			t.Fatalf("A reads its own inodes: %d, %v", n, err)
		}
		for _, stmt := range []string{
			`SELECT * FROM ` + b.keyspace + `.inodes`,
			`SELECT * FROM ` + b.keyspace + `.blocks`,
			`SELECT * FROM ` + b.keyspace + `.meta`,
			`INSERT INTO ` + b.keyspace + `.sessions (sid, info) VALUES ('intruder', 'x')`,
			`DELETE FROM ` + b.keyspace + `.dentries WHERE parent = 1`,
			`CREATE TABLE ` + a.keyspace + `.extra (k int PRIMARY KEY)`, // no schema changes even on its own keyspace
			`DROP KEYSPACE ` + b.keyspace,
		} {
			err := s.Query(stmt).Exec()
			var re gocql.RequestError
			if !errors.As(err, &re) || re.Code() != gocql.ErrCodeUnauthorized {
				t.Errorf("as A: %s: %v, want Unauthorized", stmt, err)
			}
		}
	})

	t.Run("ZooKeeperDigestIsolation", func(t *testing.T) {
		nsB := p.zk.Chroot + "/" + cassbackend.LockNamespace(b.volumeID)
		nodes := znodes(t, zkConn(t, servers, b.digest), nsB)
		var lockNodes int
		for _, n := range nodes {
			if strings.Contains(n, "/files/") {
				lockNodes++
			}
		}
		if lockNodes == 0 {
			t.Fatalf("no file lock nodes under %s: %v", nsB, nodes)
		}
		asA := zkConn(t, servers, a.digest)
		for _, n := range nodes {
			if _, _, err := asA.Get(n); !errors.Is(err, zk.ErrNoAuth) {
				t.Errorf("A's digest: get %s: %v, want NoAuth", n, err)
			}
			if _, _, err := asA.Children(n); !errors.Is(err, zk.ErrNoAuth) {
				t.Errorf("A's digest: list %s: %v, want NoAuth", n, err)
			}
			if _, err := asA.Create(n+"/intruder", nil, 0, zk.WorldACL(zk.PermAll)); !errors.Is(err, zk.ErrNoAuth) {
				t.Errorf("A's digest: create under %s: %v, want NoAuth", n, err)
			}
			if n != nsB {
				if err := asA.Delete(n, -1); !errors.Is(err, zk.ErrNoAuth) {
					t.Errorf("A's digest: delete %s: %v, want NoAuth", n, err)
				}
			}
		}
		// pkg/lock with B's namespace and A's digest takes no lock.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		z, err := lock.NewZK(ctx, lock.ZKConfig{Servers: servers, Chroot: p.zk.Chroot,
			Namespace: cassbackend.LockNamespace(b.volumeID), Digest: a.digest})
		if err == nil {
			defer z.Close()
			_, err = z.Lock(ctx, "rename", lock.Exclusive)
		}
		if !errors.Is(err, zk.ErrNoAuth) {
			t.Errorf("pkg/lock on B's namespace with A's digest: %v, want NoAuth", err)
		}
		// Through the driver: B's role with A's digest cannot stage B.
		st := p.stage(t, b, filepath.Join(p.dir, "staging-b-wrong-digest"), map[string]string{
			driver.SecretUsername: b.role, driver.SecretPassword: b.password, driver.SecretZooKeeperDigest: a.digest})
		record(st)
		wantRefused(t, "stage B with B's role and A's digest", st, codes.PermissionDenied)
	})

	t.Run("WrongPassword", func(t *testing.T) {
		wrong := "pw-wrong-" + randomHex(t, 12)
		st := p.stage(t, a, filepath.Join(p.dir, "staging-a-wrong"), map[string]string{
			driver.SecretUsername: a.role, driver.SecretPassword: wrong, driver.SecretZooKeeperDigest: a.digest})
		record(st)
		wantRefused(t, "stage A with a wrong password", st, codes.Unauthenticated)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, err := p.ctrl.CreateVolume(ctx, &csi.CreateVolumeRequest{Name: testenv.UniqueName("pvc-secure-wrong-"),
			Secrets:            map[string]string{driver.SecretUsername: superuser, driver.SecretPassword: wrong},
			VolumeCapabilities: []*csi.VolumeCapability{multiWriter()}})
		st = status.Convert(err)
		record(st)
		wantRefused(t, "create with a wrong password", st, codes.Unauthenticated)
		// No credentials at all (the plugin has no default login): refused too, not an internal error.
		_, err = p.ctrl.CreateVolume(ctx, &csi.CreateVolumeRequest{Name: testenv.UniqueName("pvc-secure-anon-"),
			VolumeCapabilities: []*csi.VolumeCapability{multiWriter()}})
		st = status.Convert(err)
		record(st)
		wantRefused(t, "create without credentials", st, codes.Unauthenticated)
		messages = append(messages, wrong) // scanned for below: must appear nowhere else
		for _, m := range messages[:len(messages)-1] {
			if strings.Contains(m, wrong) {
				t.Errorf("the wrong password appears in an error: %s", m)
			}
		}
		if strings.Contains(p.logs.String(), wrong) {
			t.Errorf("the wrong password appears in the logs")
		}
	})

	t.Run("TLSRequired", func(t *testing.T) {
		plain := clusterConfig(t, a.role, a.password)
		plain.CAFile = ""
		if _, err := connect(t, plain); err == nil {
			t.Fatal("a client without TLS connected")
		} else {
			t.Logf("without TLS: %v", err)
		}
		// TLS without the bed's CA: the server's certificate is not trusted.
		cc := gocql.NewCluster(testenv.CassandraHosts()...)
		cc.ConnectTimeout, cc.Timeout = 20*time.Second, 20*time.Second
		cc.Authenticator = gocql.PasswordAuthenticator{Username: a.role, Password: a.password}
		cc.SslOpts = &gocql.SslOptions{Config: &tls.Config{MinVersion: tls.VersionTLS12}, EnableHostVerification: true}
		if s, err := cc.CreateSession(); err == nil {
			s.Close()
			t.Fatal("a client that does not trust the bed's CA connected")
		} else if !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("without the CA: %v, want a certificate error", err)
		} else {
			t.Logf("without the CA: %v", err)
		}
		// The driver's pool says Unavailable for a server it cannot reach securely (not Internal).
		pool := cassbackend.NewPool(plain)
		defer pool.Close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := pool.Get(ctx, driver.Credentials{}); !errors.Is(err, driver.ErrUnavailable) {
			t.Fatalf("pool without TLS: %v, want ErrUnavailable", err)
		}
	})

	t.Run("ReadWriteOnceClaim", func(t *testing.T) {
		// A single-node writable stage claims the volume for this node (a lightweight transaction on the
		// node_claim table): the node role's two grants cover it.
		dir := filepath.Join(p.dir, "staging-a-rwo")
		if err := os.MkdirAll(dir, 0o750); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		rwo := &csi.VolumeCapability{AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{}},
			AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER}}
		if _, err := p.node.NodeStageVolume(ctx, &csi.NodeStageVolumeRequest{VolumeId: a.volumeID, StagingTargetPath: dir,
			VolumeCapability: rwo, Secrets: a.nodeSecrets(), VolumeContext: a.volumeContext}); err != nil {
			t.Fatalf("stage A ReadWriteOnce with A's role: %v", err)
		}
		defer p.unstage(t, a, dir)
		var holder string
		if err := su.Query(`SELECT node FROM ` + a.keyspace + `.node_claim WHERE k = 'node'`).Scan(&holder); err != nil || holder != "secure-node" {
			t.Fatalf("A's node claim: %q, %v; want secure-node", holder, err)
		}
		if err := os.WriteFile(filepath.Join(dir, "rwo"), []byte("claimed"), 0o644); err != nil {
			t.Fatalf("write through the ReadWriteOnce mount: %v", err)
		}
		if got, err := os.ReadFile(filepath.Join(dir, "rwo")); err != nil || string(got) != "claimed" {
			t.Fatalf("read back: %q, %v", got, err)
		}
	})

	t.Run("MigrationNeedsTheProvisioner", func(t *testing.T) {
		// A volume whose schema is older than this driver's is migrated when it is opened, which takes CREATE on
		// its keyspace. A node role with only NodeGrants is refused with PermissionDenied naming the migration
		// (not Internal), and the volume is left as it was.
		dir := filepath.Join(p.dir, "staging-b-old")
		var cur int
		if err := su.Query(`SELECT schema_version FROM ` + b.keyspace + `.meta WHERE k = 'volume'`).Scan(&cur); err != nil {
			t.Fatal(err)
		}
		setVersion := func(from, to int) {
			t.Helper()
			var got int
			applied, err := su.Query(`UPDATE `+b.keyspace+`.meta SET schema_version = ? WHERE k = 'volume' IF schema_version = ?`,
				to, from).ScanCAS(&got)
			if err != nil || !applied {
				t.Fatalf("set B's schema version %d -> %d: applied %v (found %d), %v", from, to, applied, got, err)
			}
		}
		setVersion(cur, cur-1)
		defer setVersion(cur-1, cur)
		st := p.stage(t, b, dir, b.nodeSecrets())
		record(st)
		wantRefused(t, "stage an old-schema volume with a node role", st, codes.PermissionDenied)
		if !strings.Contains(st.Message(), "migration") {
			t.Errorf("the refusal does not say a migration needed the permission: %s", st.Message())
		}
		if isMounted(t, dir) {
			t.Fatalf("the refused stage left a mount at %s", dir)
		}
	})

	// No password or digest of either tenant in the logs of the whole run or in any error a client saw.
	logs := p.logs.String()
	for _, tn := range []*tenant{a, b} {
		zkPassword := tn.digest[strings.Index(tn.digest, ":")+1:]
		for _, secret := range []string{tn.password, zkPassword} {
			if strings.Contains(logs, secret) {
				t.Errorf("a secret of tenant %s appears in the logs", tn.name)
			}
			for _, m := range messages {
				if strings.Contains(m, secret) {
					t.Errorf("a secret of tenant %s appears in an error: %s", tn.name, m)
				}
			}
		}
	}
	if !strings.Contains(logs, "NodeStageVolume") || !strings.Contains(logs, a.volumeID) {
		t.Fatalf("nothing to scan: %d log bytes", len(logs))
	}
	t.Logf("scanned %d log bytes and %d error messages for 4 secret values", len(logs), len(messages))
}
