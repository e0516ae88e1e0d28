package cassandra

import (
	"context"
	"errors"
	"syscall"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
)

// Faults: what happens when a Cassandra node dies, a connection resets or a request times out.
//
// The driver retries a statement on the next node only if the statement is marked idempotent (the helpers q,
// read, put and qs in volume.go say which ones are) and only for errors that another node might not give
// (retryPolicy). Whatever error is left when the retries are spent reaches the caller of a Volume method as EIO
// (storeError): a filesystem call never returns ECONNRESET, EPIPE or another network errno of the driver's
// connections, which applications would misread as a problem of their own file descriptor.

// retries is how many times the driver retries an idempotent statement, each time on the next node of the
// query plan (with replication factor 3 and one node down, the first retry already reaches a live replica).
const retries = 3

// retryPolicy is gocql's SimpleRetryPolicy (retry at once on the next host, up to NumRetries times) that gives
// up immediately on errors any node would return again (syntax, permissions, ...). Immediate retries suit the
// failure it is for: a dead or unreachable coordinator, whose connections fail fast, and another coordinator that
// is healthy. Timeouts reported by a live coordinator are retried too (for idempotent statements only).
type retryPolicy struct{ gocql.SimpleRetryPolicy }

func newRetryPolicy() *retryPolicy {
	return &retryPolicy{gocql.SimpleRetryPolicy{NumRetries: retries}}
}

// GetRetryType implements gocql.RetryPolicy.
func (p *retryPolicy) GetRetryType(err error) gocql.RetryType {
	if retryable(err) {
		return gocql.RetryNextHost
	}
	return gocql.Rethrow
}

// retryable reports whether another attempt (on another node) of an idempotent statement might succeed where
// this one failed with err. Errors about the request itself (syntax, permissions, credentials, configuration,
// an existing table, a failing function, a protocol violation) would come back from every node. An invalid
// request is retried: a node whose schema lags the cluster's (one that just restarted) answers "unconfigured
// table" for a table every other node knows.
func retryable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var re gocql.RequestError
	if errors.As(err, &re) {
		switch re.Code() {
		case gocql.ErrCodeSyntax, gocql.ErrCodeUnauthorized, gocql.ErrCodeCredentials, gocql.ErrCodeConfig,
			gocql.ErrCodeAlreadyExists, gocql.ErrCodeFunctionFailure, gocql.ErrCodeProtocol:
			return false
		}
	}
	return true
}

// networkErrno lists the errnos a failing connection can carry. They describe the driver's sockets, not the
// caller's files, so they never leave the store as they are.
var networkErrno = map[syscall.Errno]bool{
	syscall.ECONNRESET: true, syscall.ECONNREFUSED: true, syscall.ECONNABORTED: true, syscall.EPIPE: true,
	syscall.ETIMEDOUT: true, syscall.EHOSTUNREACH: true, syscall.EHOSTDOWN: true, syscall.ENETUNREACH: true,
	syscall.ENETDOWN: true, syscall.ENETRESET: true, syscall.ENOTCONN: true, syscall.ESHUTDOWN: true,
	syscall.EADDRNOTAVAIL: true, syscall.EADDRINUSE: true, syscall.ENOBUFS: true, syscall.EPROTO: true,
}

// ioError is a storage failure presented as EIO: errors.As finds syscall.EIO first, errors.Is still finds the
// original error (and the driver's error types) underneath, and the message is the original one.
type ioError struct{ err error }

func (e *ioError) Error() string   { return e.err.Error() }
func (e *ioError) Unwrap() []error { return []error{syscall.EIO, e.err} }

// storeError shapes an error leaving a Volume method: an error that carries a filesystem errno on purpose
// (ENOENT, EEXIST, ENOSPC, EIO, ...) is returned as it is, and so is a cancellation (the caller gave up: EINTR
// at the filesystem edge); every other error (the driver's timeouts and unavailability, lost connections with
// their network errnos) becomes EIO.
func storeError(err error) error {
	if err == nil || errors.Is(err, context.Canceled) {
		return err
	}
	var errno syscall.Errno
	if errors.As(err, &errno) && !networkErrno[errno] {
		return err
	}
	return &ioError{err}
}

// shape replaces *err by storeError(*err); Volume methods defer it.
func shape(err *error) { *err = storeError(*err) }
