// Package bench holds the CassFS benchmark harness (issue 8). The work is driven by hack/bench.sh, which runs
// the same fio and metadata workloads on four targets in one sitting and writes docs/benchmarks.md:
//
//   - local: a directory on the local disk (the hardware ceiling);
//   - loopback: go-fuse's loopback filesystem over a local directory (the FUSE ceiling), served by
//     `cassbench loopback`;
//   - rawcql: the same bytes written as 1 MiB blobs into a plain Cassandra table and read back with gocql (the
//     store ceiling), by `cassbench rawcql`;
//   - cassfs: a CassFS volume mounted by `csi-driver mount --create`.
//
// cmd/cassbench is one binary with small subcommands, each in its own file:
//
//   - loopback DIR MOUNTPOINT: serve DIR through go-fuse at MOUNTPOINT until SIGTERM/SIGINT;
//   - rawcql setup|write|read|drop: the store ceiling (see rawcql.go for what it stores and how);
//   - mdtest: create, stat, read and remove N small files in a tree with P worker processes (mdtest style);
//   - volume create|delete: time cassandra.Connect + CreateVolume (the CreateVolume equivalent), and clean up.
//
// Every subcommand prints one JSON object per measured phase on stdout, so that hack/bench.sh can tabulate it
// with jq-free shell (see the "result" lines). Nothing here asserts a timing: the bars of the issue are judged by
// hack/bench.sh from the measured numbers and written, met or not, into docs/benchmarks.md.
package bench
