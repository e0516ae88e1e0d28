package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// runWaitMount waits until DIR is a mount point (in /proc/self/mountinfo), polling every 2 ms, and fails early
// when -pid (the mounting process) exits first or -timeout passes. hack/bench.sh times mounts with it.
func runWaitMount(args []string) error {
	fl := flag.NewFlagSet("waitmount", flag.ContinueOnError)
	pid := fl.Int("pid", 0, "fail if this process exits before the mount appears")
	timeout := fl.Duration("timeout", time.Minute, "give up after this long")
	gone := fl.Bool("gone", false, "wait until DIR is no longer a mount point instead")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if fl.NArg() != 1 {
		return errors.New("usage: cassbench waitmount [-pid PID] [-timeout D] [-gone] DIR")
	}
	dir, err := filepath.Abs(fl.Arg(0))
	if err != nil {
		return err
	}
	deadline := time.Now().Add(*timeout)
	for {
		m, err := isMountPoint(dir)
		if err != nil {
			return err
		}
		if m != *gone {
			return nil
		}
		if *pid > 0 && syscall.Kill(*pid, 0) != nil {
			return fmt.Errorf("process %d exited before %s was %s", *pid, dir, map[bool]string{false: "mounted", true: "unmounted"}[*gone])
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: still not %s after %v", dir, map[bool]string{false: "mounted", true: "unmounted"}[*gone], *timeout)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func isMountPoint(dir string) (bool, error) {
	fh, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return false, err
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		// Field 5 is the mount point, with spaces and other specials octal-escaped.
		f := strings.Fields(sc.Text())
		if len(f) > 4 && unescapeMount(f[4]) == dir {
			return true, nil
		}
	}
	return false, sc.Err()
}

func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var v byte
			if _, err := fmt.Sscanf(s[i+1:i+4], "%03o", &v); err == nil {
				b.WriteByte(v)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
