// Package localcluster holds the small programs hack/local-cluster.sh builds the local cluster's images from,
// since this machine has no registry to pull from:
//
//   - pause: the pod sandbox's process (waits for a signal).
//   - flock: flock(1) for the busybox test image (Debian's busybox-static has no flock applet); the e2e suite's
//     ReadWriteMany test runs "flock -x FILE -c CMD" and "flock -n -x FILE true".
//   - imgpack: packs a root file system directory into a docker-archive tarball that "ctr images import" loads.
package localcluster
