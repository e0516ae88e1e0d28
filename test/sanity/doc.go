// Package sanity runs csi-sanity (github.com/kubernetes-csi/csi-test/v5/pkg/sanity) against the real CassFS CSI
// plugin: the controller creates volumes in the test Cassandra, the node service stages them with real FUSE
// mounts in the test process and bind-mounts them with the host's mount(8). It needs root, /dev/fuse, Cassandra
// on 127.0.0.1:9042 and ZooKeeper on 127.0.0.1:2181 (internal/testenv); without them the tests fail.
//
// The same package holds the tests that only real mounts can check: data written through a published target is
// in the volume, a plugin killed with its mounts alive is replaced by one that mounts them again.
package sanity
