// Command csi-driver is the CassFS binary: the CSI plugin (serve), a standalone mount, and maintenance tools.
// main only dispatches; each subcommand lives in its own file and turns flags into a call into pkg/.
package main

import (
	"fmt"
	"os"
)

// version is stamped at build time: -ldflags "-X main.version=v0.1.0".
var version = "dev"

type command struct {
	name  string
	usage string
	run   func(args []string) error
}

func commands() []command {
	return []command{
		{"serve", "run the CSI plugin (controller, node or both)", runServe},
		{"mount", "mount a volume on a directory outside Kubernetes", runMount},
		{"fdkeeper", "hold FUSE connections so that mounts survive a restart of their server", runFDKeeper},
		{"fsck", "check (and with --repair repair) a volume's stored invariants", runFsck},
		{"version", "print the version", func([]string) error { fmt.Println(version); return nil }},
	}
}

func usage() {
	fmt.Fprintf(os.Stderr, "usage: csi-driver COMMAND [flags]\n\ncommands:\n")
	for _, c := range commands() {
		fmt.Fprintf(os.Stderr, "  %-10s %s\n", c.name, c.usage)
	}
}

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	for _, c := range commands() {
		if c.name == os.Args[1] {
			if err := c.run(os.Args[2:]); err != nil {
				fmt.Fprintf(os.Stderr, "csi-driver %s: %v\n", c.name, err)
				os.Exit(1)
			}
			return
		}
	}
	if os.Args[1] == "-h" || os.Args[1] == "--help" || os.Args[1] == "help" {
		usage()
		return
	}
	fmt.Fprintf(os.Stderr, "csi-driver: unknown command %q\n", os.Args[1])
	usage()
	os.Exit(2)
}
