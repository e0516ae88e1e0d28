package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/cassfs/cassfs/pkg/cassandra"
	"github.com/cassfs/cassfs/pkg/fusefs"
	"github.com/cassfs/cassfs/pkg/lock"
)

// runCFSMount is a stand-in for `csi-driver mount`, for developing the harness before that subcommand exists and
// for comparing with it: the same product stack (cassandra.Connect, CreateVolume with --create, OpenVolume,
// fusefs.Mount; ZooKeeper locks when --zookeeper is given, in-process ones otherwise) with the packages' default
// options, serving until SIGTERM or SIGINT, then unmounting and closing the volume. hack/bench.sh uses it only
// when told to (CASSFS_MOUNT=cassbench), and says so in the report.
func runCFSMount(args []string) error {
	fl := flag.NewFlagSet("cfsmount", flag.ContinueOnError)
	create := fl.Bool("create", false, "create the volume first (default parameters)")
	capacity := fl.Uint64("capacity", 0, "capacity in bytes for --create (0: unlimited)")
	hosts := fl.String("cassandra", "127.0.0.1", "Cassandra hosts, comma-separated")
	zkServers := fl.String("zookeeper", "", "ZooKeeper servers, comma-separated (empty: in-process locks)")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if fl.NArg() != 2 {
		return errors.New("usage: cassbench cfsmount [flags] VOLUME DIR")
	}
	id, dir := fl.Arg(0), fl.Arg(1)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl, err := cassandra.Connect(ctx, cassandra.ClusterConfig{Hosts: strings.Split(*hosts, ",")})
	if err != nil {
		return err
	}
	defer cl.Close()
	if *create {
		spec, err := cassandra.ParseVolumeSpec(id, *capacity, nil)
		if err != nil {
			return err
		}
		if _, err := cl.CreateVolume(ctx, spec); err != nil {
			return err
		}
	}
	var names lock.Locker
	var files lock.FileLocker
	if *zkServers != "" {
		z, err := lock.NewZK(ctx, lock.ZKConfig{Servers: strings.Split(*zkServers, ","), Namespace: cassandra.KeyspaceName(id)})
		if err != nil {
			return err
		}
		names, files = z, lock.NewZKFiles(z)
	} else {
		names, files = lock.NewLocal(), lock.NewLocalFiles()
	}
	defer names.Close()
	vol, err := cl.OpenVolume(ctx, id, cassandra.OpenOptions{Locker: names})
	if err != nil {
		return err
	}
	defer vol.Close()
	srv, err := fusefs.Mount(dir, vol, fusefs.Options{Session: vol.SessionID(), Locks: files})
	if err != nil {
		return err
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	done := make(chan struct{})
	go func() { srv.Wait(); close(done) }()
	select {
	case <-sig:
	case <-done:
		return errors.New("the mount went away")
	}
	if err := srv.Unmount(); err != nil {
		return fmt.Errorf("unmount %s: %w", dir, err)
	}
	<-done
	return nil
}
