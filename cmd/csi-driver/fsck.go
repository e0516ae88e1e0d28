package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/cassfs/cassfs/pkg/cassandra"
)

// errProblems is returned by fsck when problems remain (exit status 1).
var errProblems = errors.New("problems remain")

// fsckFlags are the flags of "csi-driver fsck".
type fsckFlags struct {
	cassFlags
	repair         bool
	sessionTimeout time.Duration
	timeout        time.Duration
}

func parseFsckFlags(args []string, out io.Writer) (fsckFlags, string, error) {
	var f fsckFlags
	fs := flag.NewFlagSet("fsck", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: csi-driver fsck [flags] VOLUME\n\n"+
			"Checks a volume's stored invariants and prints one line per problem; exits 1 when problems remain.\n"+
			"With --repair it fixes them: run it only while no mount writes to the volume.\n\nflags:\n")
		fs.PrintDefaults()
	}
	f.cassFlags.register(fs)
	fs.BoolVar(&f.repair, "repair", false, "repair what is found (the volume must be quiescent)")
	fs.DurationVar(&f.sessionTimeout, "session-timeout", time.Minute,
		"a mount whose heartbeat is older is gone (its unreferenced blocks are garbage); keep it at the mounts' value")
	fs.DurationVar(&f.timeout, "timeout", time.Hour, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return f, "", err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return f, "", fmt.Errorf("want 1 argument (VOLUME), got %d", fs.NArg())
	}
	return f, fs.Arg(0), nil
}

// runFsck checks (and with --repair repairs) a volume.
func runFsck(args []string) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return fsck(ctx, args, os.Stdout)
}

// fsck is runFsck writing its report to out: errProblems (wrapped) when problems remain.
func fsck(ctx context.Context, args []string, out io.Writer) error {
	f, volume, err := parseFsckFlags(args, out)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	cluster, err := f.connect(ctx)
	if err != nil {
		return err
	}
	defer cluster.Close()
	host, _ := os.Hostname()
	v, err := cluster.OpenVolume(ctx, volume, cassandra.OpenOptions{
		Session:        fmt.Sprintf("fsck-%s-%d-%d", host, os.Getpid(), time.Now().Unix()),
		SessionTimeout: f.sessionTimeout, CleanupInterval: -1})
	if err != nil {
		return fmt.Errorf("open volume %s: %w", volume, err)
	}
	defer v.Close()

	r, err := v.Fsck(ctx, f.repair)
	if err != nil {
		return fmt.Errorf("fsck %s: %w", volume, err)
	}
	printReport(out, volume, r)
	if f.repair && !r.Clean() {
		// Repair repeats until a pass is clean; check once more on its own, as a reader would.
		if r, err = v.Fsck(ctx, false); err != nil {
			return fmt.Errorf("fsck %s: %w", volume, err)
		}
		fmt.Fprintf(out, "after repair:\n")
		printReport(out, volume, r)
	}
	if !r.Clean() {
		return fmt.Errorf("volume %s: %d %w", volume, len(r.Problems), errProblems)
	}
	return nil
}

func printReport(out io.Writer, volume string, r cassandra.FsckReport) {
	for _, p := range r.Problems {
		fmt.Fprintf(out, "problem: %s\n", p)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(out, "note: %s\n", n)
	}
	verb := "found"
	if r.Repaired {
		verb = "found and repaired"
	}
	fmt.Fprintf(out, "volume %s: %d inodes, %d entries; %s %d problems (dangling entries %d, link counts %d, "+
		"unreachable inodes %d, data without inode %d, leaked blocks %d, usage counters %v); intents replayed %d; "+
		"blocks of live writers left alone %d\n", volume, r.Inodes, r.Entries, verb, len(r.Problems),
		r.DanglingEntries, r.NlinkFixed, r.Orphans, r.DataOrphans, r.LeakedBlocks, r.UsageFixed, r.IntentsReplayed,
		r.InFlightBlocks)
}
