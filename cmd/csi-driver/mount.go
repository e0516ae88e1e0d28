package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/cassfs/cassfs/pkg/cassandra"
	"github.com/cassfs/cassfs/pkg/driver/cassbackend"
	"github.com/cassfs/cassfs/pkg/fdkeeper"
	"github.com/cassfs/cassfs/pkg/fusefs"
	"github.com/cassfs/cassfs/pkg/lock"
	"k8s.io/apimachinery/pkg/api/resource"
)

// mountFlags are the flags of "csi-driver mount".
type mountFlags struct {
	cassFlags
	zookeeper, zkChroot              string
	create                           bool
	capacity                         bytesFlag
	params                           paramFlag
	cacheBytes                       int64
	attrTimeout                      time.Duration
	allowOther, readOnly, foreground bool
	unmount                          bool
	fdkeeper                         string
	logLevel                         string
}

// paramFlag collects repeated --param key=value.
type paramFlag map[string]string

func (p paramFlag) String() string { return fmt.Sprint(map[string]string(p)) }

func (p paramFlag) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("want key=value, got %q", v)
	}
	p[k] = val
	return nil
}

// bytesFlag is a byte count given as a plain number or a Kubernetes quantity ("10Gi", "500M"), as users write
// capacities in PVCs.
type bytesFlag uint64

func (b *bytesFlag) String() string { return fmt.Sprint(uint64(*b)) }

func (b *bytesFlag) Set(v string) error {
	q, err := resource.ParseQuantity(v)
	if err != nil {
		return fmt.Errorf("want a byte count such as 1073741824, 10Gi or 500M: %w", err)
	}
	n := q.Value() // rounds a fraction of a byte up: compare to refuse it
	if q.Sign() < 0 || q.Cmp(*resource.NewQuantity(n, resource.BinarySI)) != 0 {
		return fmt.Errorf("want a whole, non-negative byte count, got %q", v)
	}
	*b = bytesFlag(n)
	return nil
}

func parseMountFlags(args []string) (mountFlags, []string, error) {
	f := mountFlags{params: paramFlag{}}
	fs := flag.NewFlagSet("mount", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: csi-driver mount [flags] VOLUME DIR\n       csi-driver mount -u DIR\n\nflags:\n")
		fs.PrintDefaults()
	}
	f.cassFlags.register(fs)
	fs.StringVar(&f.zookeeper, "zookeeper", "", "ZooKeeper servers host:port, comma-separated, for locks and change notices shared with other mounts (empty: local to this mount)")
	fs.StringVar(&f.zkChroot, "zookeeper-chroot", "/cassfs", "ZooKeeper root znode of this deployment")
	fs.BoolVar(&f.create, "create", false, "create the volume if it does not exist")
	fs.Var(&f.capacity, "capacity", "with --create: the volume's quota, in bytes or as a quantity such as 10Gi or 500M (0: unlimited)")
	fs.Var(f.params, "param", "with --create: a volume parameter key=value (repeatable)")
	fs.Int64Var(&f.cacheBytes, "cache-size", 64<<20, "read cache of the volume session, in bytes")
	fs.DurationVar(&f.attrTimeout, "attr-timeout", 0, "how long the kernel caches attributes and names (0: 1s, or 1m with --zookeeper, whose change notices invalidate them at once)")
	fs.BoolVar(&f.allowOther, "allow-other", false, "let other users access the mount (permissions still apply)")
	fs.BoolVar(&f.readOnly, "read-only", false, "mount read-only")
	fs.BoolVar(&f.foreground, "foreground", true, "serve in this process until SIGINT/SIGTERM, then unmount")
	fs.BoolVar(&f.unmount, "u", false, "unmount DIR")
	fs.StringVar(&f.fdkeeper, "fdkeeper", "", "socket of a csi-driver fdkeeper: if this process dies, the mount stays and the next "+
		"mount of DIR with the same keeper takes it over (SIGTERM still unmounts)")
	fs.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return f, nil, err
	}
	want := 2
	if f.unmount {
		want = 1
	}
	if fs.NArg() != want {
		fs.Usage()
		return f, nil, fmt.Errorf("want %d arguments, got %d", want, fs.NArg())
	}
	if !f.foreground && !f.unmount {
		return f, nil, errors.New("--foreground=false is not supported: the filesystem is served by this process")
	}
	return f, fs.Args(), nil
}

// runMount mounts a volume on a directory (or, with -u, unmounts one) outside Kubernetes.
func runMount(args []string) error {
	f, rest, err := parseMountFlags(args)
	if err != nil {
		return err
	}
	if f.unmount {
		if err := syscall.Unmount(rest[0], 0); err != nil {
			return fmt.Errorf("unmount %s: %w", rest[0], err)
		}
		fmt.Printf("unmounted %s\n", rest[0])
		return nil
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	slog.SetDefault(log)
	volume, dir := rest[0], rest[1]

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	cluster, err := f.connect(ctx)
	if err != nil {
		return err
	}
	defer cluster.Close()
	if f.create {
		if err := createIfMissing(ctx, cluster, volume, uint64(f.capacity), f.params); err != nil {
			return err
		}
	}

	session := mountSession()
	opts := cassandra.OpenOptions{Session: session, CacheBytes: f.cacheBytes}
	fsOpts := fusefs.Options{AttrTimeout: f.attrTimeout, EntryTimeout: f.attrTimeout, AllowOther: f.allowOther,
		ReadOnly: f.readOnly, FsName: "cassfs:" + volume, Session: session, Logger: log, Debug: level < slog.LevelDebug}
	if f.zookeeper != "" {
		// The node plugin's namespace for the volume, so that this mount and CSI mounts of the volume share
		// locks and change notices.
		z, err := lock.NewZK(ctx, lock.ZKConfig{Servers: strings.Split(f.zookeeper, ","), Chroot: f.zkChroot,
			Namespace: cassbackend.LockNamespace(volume)})
		if err != nil {
			return fmt.Errorf("zookeeper: %w", err)
		}
		defer z.Close()
		opts.Locker = z
		fsOpts.Locks = lock.NewZKFiles(z)
		// Other mounts' changes reach this mount's kernel caches at once (and ours theirs).
		nt, err := lock.NewZKNotifier(ctx, z, 0)
		if err != nil {
			return fmt.Errorf("zookeeper: %w", err)
		}
		defer nt.Close() // after the volume session, before ZooKeeper (deferred calls run last first)
		fsOpts.Notifier = nt
	}
	vol, err := cluster.OpenVolume(ctx, volume, opts)
	if err != nil {
		return fmt.Errorf("open volume %s: %w", volume, err)
	}
	defer vol.Close()
	if f.fdkeeper != "" {
		keeper := fdkeeper.NewClient(f.fdkeeper)
		conn, err := keeper.Get(dir)
		if err != nil {
			return err
		}
		if conn != nil {
			defer conn.Dev.Close()
			fsOpts.Takeover = conn
		}
		fsOpts.Keeper = keeper
	}
	srv, err := fusefs.Mount(dir, vol, fsOpts)
	if err != nil {
		return err
	}
	if fsOpts.Takeover != nil {
		fmt.Printf("took over ")
	}
	fmt.Printf("mounted volume %s on %s (session %s, locks: %s)\n", volume, dir, session, lockKind(f.zookeeper))

	done := make(chan struct{})
	go func() { srv.Wait(); close(done) }()
	select {
	case <-ctx.Done():
		log.Info("signal received, unmounting", "dir", dir)
		if err := srv.Unmount(); err != nil {
			return err
		}
	case <-done:
		log.Info("unmounted externally", "dir", dir)
	}
	fmt.Printf("unmounted %s\n", dir)
	return nil
}

// createIfMissing creates volume with the given capacity and parameters unless it exists already.
func createIfMissing(ctx context.Context, c *cassandra.Cluster, volume string, capacity uint64, params map[string]string) error {
	if _, err := c.GetVolume(ctx, volume); err == nil {
		return nil
	} else if !errors.Is(err, cassandra.ErrVolumeNotFound) {
		return err
	}
	spec, err := cassandra.ParseVolumeSpec(volume, capacity, params)
	if err != nil {
		return err
	}
	if _, err := c.CreateVolume(ctx, spec); err != nil {
		return fmt.Errorf("create volume %s: %w", volume, err)
	}
	fmt.Printf("created volume %s\n", volume)
	return nil
}

func mountSession() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("mount-%s-%d-%d", host, os.Getpid(), time.Now().Unix())
}

func lockKind(zk string) string {
	if zk == "" {
		return "local"
	}
	return "zookeeper " + zk
}
