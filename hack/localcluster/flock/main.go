// Command flock is the subset of util-linux flock(1) the e2e test image needs:
//
//	flock [-s|-x] [-n] FILE -c COMMAND
//	flock [-s|-x] [-n] FILE PROGRAM [ARGS...]
//
// It takes flock(2) on FILE (created if missing), runs the command with the lock held and exits with its status;
// with -n it exits 1 at once when the lock is taken.
package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
)

func main() {
	how, nonblock := syscall.LOCK_EX, false
	args := os.Args[1:]
	for len(args) > 0 && len(args[0]) > 1 && args[0][0] == '-' {
		switch args[0] {
		case "-x", "-e", "--exclusive":
			how = syscall.LOCK_EX
		case "-s", "--shared":
			how = syscall.LOCK_SH
		case "-n", "--nonblock":
			nonblock = true
		default:
			fail(fmt.Sprintf("unknown option %s", args[0]))
		}
		args = args[1:]
	}
	if len(args) < 2 {
		fail("usage: flock [-s|-x] [-n] FILE -c COMMAND | FILE PROGRAM [ARGS...]")
	}
	f, err := os.OpenFile(args[0], os.O_RDONLY|os.O_CREATE, 0o666)
	if err != nil {
		fail(err.Error())
	}
	if nonblock {
		how |= syscall.LOCK_NB
	}
	if err := syscall.Flock(int(f.Fd()), how); err != nil {
		if errors.Is(err, syscall.EWOULDBLOCK) {
			os.Exit(1)
		}
		fail(err.Error())
	}
	var cmd *exec.Cmd
	if args[1] == "-c" {
		if len(args) != 3 {
			fail("-c takes one command string")
		}
		cmd = exec.Command("/bin/sh", "-c", args[2])
	} else {
		cmd = exec.Command(args[1], args[2:]...)
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			os.Exit(exit.ExitCode())
		}
		fail(err.Error())
	}
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "flock:", msg)
	os.Exit(64)
}
