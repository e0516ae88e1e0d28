package cassandra

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/cassfs/cassfs/pkg/store"
)

// requestErr is a server error with a given code (gocql's own type for most codes is unexported).
type requestErr int

func (e requestErr) Code() int       { return int(e) }
func (e requestErr) Message() string { return fmt.Sprintf("code %#x", int(e)) }
func (e requestErr) Error() string   { return e.Message() }

// connReset is what a read on a connection to a SIGKILLed node returns.
func connReset() error {
	return fmt.Errorf("gocql: conn: %w", &net.OpError{Op: "read", Net: "tcp",
		Err: os.NewSyscallError("read", syscall.ECONNRESET)})
}

func TestRetryable(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{connReset(), true},
		{gocql.ErrNoConnections, true},
		{&gocql.RequestErrWriteTimeout{}, true},
		{&gocql.RequestErrReadTimeout{}, true},
		{&gocql.RequestErrUnavailable{}, true},
		{requestErr(gocql.ErrCodeOverloaded), true},
		{requestErr(gocql.ErrCodeBootstrapping), true},
		{requestErr(gocql.ErrCodeInvalid), true}, // "unconfigured table" from a node whose schema lags
		{requestErr(gocql.ErrCodeSyntax), false},
		{requestErr(gocql.ErrCodeUnauthorized), false},
		{requestErr(gocql.ErrCodeCredentials), false},
		{requestErr(gocql.ErrCodeConfig), false},
		{requestErr(gocql.ErrCodeAlreadyExists), false},
		{fmt.Errorf("wrapped: %w", requestErr(gocql.ErrCodeSyntax)), false},
		{context.Canceled, false},
		{context.DeadlineExceeded, false},
		{nil, false},
	} {
		if got := retryable(tc.err); got != tc.want {
			t.Errorf("retryable(%v) = %v, want %v", tc.err, got, tc.want)
		}
		want := gocql.Rethrow
		if tc.want {
			want = gocql.RetryNextHost
		}
		if got := newRetryPolicy().GetRetryType(tc.err); got != want {
			t.Errorf("GetRetryType(%v) = %v, want %v", tc.err, got, want)
		}
	}
}

// TestStoreError checks what errno the filesystem makes of the errors a Volume method returns.
func TestStoreError(t *testing.T) {
	reset := connReset()
	for _, tc := range []struct {
		err  error
		want syscall.Errno
	}{
		{reset, syscall.EIO},
		{fmt.Errorf("cassandra: read inode 7: %w", reset), syscall.EIO},
		{fmt.Errorf("write: %w", &net.OpError{Op: "write", Err: os.NewSyscallError("write", syscall.EPIPE)}), syscall.EIO},
		{&net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, syscall.EIO},
		{syscall.ETIMEDOUT, syscall.EIO},
		{&gocql.RequestErrWriteTimeout{}, syscall.EIO},
		{gocql.ErrNoConnections, syscall.EIO},
		{errors.New("anything else"), syscall.EIO},
		{context.DeadlineExceeded, syscall.EIO},
		{context.Canceled, syscall.EINTR},
		{syscall.ENOENT, syscall.ENOENT},
		{fmt.Errorf("cassandra: quota: %w", syscall.ENOSPC), syscall.ENOSPC},
		{fmt.Errorf("failpoint x: %w: %w", errCrashed, syscall.EIO), syscall.EIO},
		{errClosed, syscall.EIO},
	} {
		got := storeError(tc.err)
		if e := store.ToErrno(got); e != tc.want {
			t.Errorf("%v: errno %v, want %v", tc.err, e, tc.want)
		}
		if !errors.Is(got, tc.err) {
			t.Errorf("%v: the original error is lost", tc.err)
		}
		if got.Error() != tc.err.Error() {
			t.Errorf("message %q, want %q", got.Error(), tc.err.Error())
		}
	}
	if storeError(nil) != nil {
		t.Error("storeError(nil) != nil")
	}
	// The driver's error types stay reachable for callers that look for them.
	var wt *gocql.RequestErrWriteTimeout
	if !errors.As(storeError(fmt.Errorf("x: %w", &gocql.RequestErrWriteTimeout{Received: 1})), &wt) || wt.Received != 1 {
		t.Error("errors.As cannot find the driver's error under EIO")
	}
}

// TestStatementsMarked checks at the place statements are built which ones the driver may retry.
func TestStatementsMarked(t *testing.T) {
	c := testCluster(t)
	info := testVolume(t, c, 0, nil)
	v := openVolume(t, c, info.Spec.ID, "marked", nil)
	for _, tc := range []struct {
		name string
		q    *gocql.Query
		want bool
	}{
		{"LWT", v.q(`UPDATE {ks}.inodes SET nlink = ? WHERE ino = ? IF ver = ?`, 1, 2, 3), false},
		{"counter", v.q(`UPDATE {ks}.usage SET bytes = bytes + ? WHERE k = 'total'`, 1), false},
		{"read", v.read(`SELECT ino FROM {ks}.inodes WHERE ino = ?`, 1), true},
		{"serial read", v.qs(`SELECT ino FROM {ks}.inodes WHERE ino = ?`, 1), true},
		{"plain write", v.put(`DELETE FROM {ks}.opens WHERE ino = ? AND sid = ?`, 1, "x"), true},
	} {
		if got := tc.q.IsIdempotent(); got != tc.want {
			t.Errorf("%s: idempotent %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestLostClusterIsEIO: with the connection to Cassandra gone, every Volume method fails with EIO (never a
// network errno, never a hang).
func TestLostClusterIsEIO(t *testing.T) {
	c := testCluster(t)
	info := testVolume(t, c, 0, nil)
	c2 := testCluster(t)
	v, err := c2.OpenVolume(context.Background(), info.Spec.ID, OpenOptions{Session: "lost"})
	must(t, err)
	ctx := context.Background()
	f, err := v.Mknod(ctx, store.RootIno, "f", newFile())
	must(t, err)
	c2.Close()
	start := time.Now()
	_, err = v.Write(ctx, f.Ino, 0, []byte("x"))
	if e := store.ToErrno(err); e != syscall.EIO {
		t.Errorf("write with the session closed: %v (errno %v), want EIO", err, e)
	}
	_, err = v.Lookup(ctx, store.RootIno, "f")
	if e := store.ToErrno(err); e != syscall.EIO {
		t.Errorf("lookup with the session closed: %v (errno %v), want EIO", err, e)
	}
	t.Logf("failed in %v", time.Since(start))
	_ = v.Close()
}
