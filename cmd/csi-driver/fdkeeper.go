package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/cassfs/cassfs/pkg/fdkeeper"
)

// runFDKeeper runs the connection keeper (pkg/fdkeeper) until SIGINT or SIGTERM. It runs beside the node plugin
// (a second container of the node DaemonSet sharing the plugin's socket directory) and must outlive the plugin's
// restarts; stopping it does not harm mounts whose server is alive.
func runFDKeeper(args []string) error {
	fs := flag.NewFlagSet("fdkeeper", flag.ContinueOnError)
	socket := fs.String("socket", "/csi/fdkeeper.sock", "unix socket to listen on")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: csi-driver fdkeeper [flags]\n\nflags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		fs.Usage()
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return fdkeeper.NewKeeper(log).Serve(ctx, *socket)
}
