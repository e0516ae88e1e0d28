// Package cassbackend connects the CSI services of pkg/driver to the real CassFS packages: volumes live in
// Cassandra (pkg/cassandra), staged volumes are served by the FUSE filesystem of this process (pkg/fusefs), and
// volumes mounted on several nodes lock through ZooKeeper (pkg/lock).
//
//   - Pool holds one Cassandra connection per set of credentials (the flags' defaults, or the username/password
//     of a request's CSI secrets), opened on first use and kept until Close.
//   - Backend implements driver.VolumeBackend on a Pool.
//   - Stager implements driver.Stager: OpenVolume + fusefs.Mount per staging path.
//   - CassandraProber and ZooKeeperProber implement driver.Prober.
//
// Errors of the real packages are mapped once, here, to the sentinels of pkg/driver (ErrNotFound, ErrExists,
// ErrInvalid, ErrUnavailable, ErrUnauthorized, ErrPermissionDenied, ErrPrecondition), which pkg/driver turns into
// gRPC codes: a refused login is ErrUnauthorized, a Cassandra role without permission on the volume's keyspace
// or a ZooKeeper digest the volume's ACL does not name is ErrPermissionDenied. Stage reads the volume with the
// request's credentials before it sets up ZooKeeper locks, so a node without access creates nothing.
package cassbackend
