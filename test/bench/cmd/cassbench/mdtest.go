package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// mdtest-style metadata benchmark. The parent makes a fresh tree root under -dir and starts -procs worker
// processes (this binary, "mdtest -worker RANK"), each owning the subtree rRANK/ with directories of -fanout
// files. Phases run in lock step, as MPI ranks do in mdtest: the parent sends a phase name to every worker, each
// does its share and answers "ok OPS ERRORS [first error]", and the phase's time is from the broadcast to the
// last answer. Phases: mkdir (the directories), create (open O_CREAT|O_EXCL, write -size bytes, close), stat,
// read (open, read to EOF, compare with what was written, close), remove (unlink), rmdir. A file's content is
// derived from its index, so every read checks the bytes written by create.
//
// -stonewall D stops the create phase of each worker after D (as mdtest's stonewall option does); the later phases
// then work on the files that were created, and the "create" result's ops says how many that was.

// workerEnv marks the worker processes (so that a test binary standing in for cassbench can run main).
const workerEnv = "CASSBENCH_MDTEST_WORKER"

var mdPhases = []string{"mkdir", "create", "stat", "read", "remove", "rmdir"}

type mdFlags struct {
	dir                        string
	files, procs, size, fanout int
	worker                     int
	stonewall                  time.Duration
}

func runMDTest(args []string) error {
	fl := flag.NewFlagSet("mdtest", flag.ContinueOnError)
	var f mdFlags
	fl.StringVar(&f.dir, "dir", "", "directory to run in (a fresh subdirectory is made and removed)")
	fl.IntVar(&f.files, "files", 1000, "files in all, spread over the processes")
	fl.IntVar(&f.procs, "procs", 1, "worker processes")
	fl.IntVar(&f.size, "size", 1024, "bytes written to and read from each file")
	fl.IntVar(&f.fanout, "fanout", 100, "files per directory")
	fl.IntVar(&f.worker, "worker", -1, "internal: run as worker RANK inside -dir")
	fl.DurationVar(&f.stonewall, "stonewall", 0, "stop each worker's create phase after this long (0: never)")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if f.dir == "" || f.files <= 0 || f.procs <= 0 || f.size < 0 || f.fanout <= 0 {
		return errors.New("need -dir, and positive -files, -procs and -fanout")
	}
	if f.worker >= 0 {
		return mdWorker(f)
	}
	root, err := os.MkdirTemp(f.dir, "mdtest.")
	if err != nil {
		return err
	}
	defer os.RemoveAll(root)
	self, err := os.Executable()
	if err != nil {
		return err
	}
	type proc struct {
		cmd *exec.Cmd
		in  io.WriteCloser
		out *bufio.Reader
	}
	procs := make([]proc, f.procs)
	for r := range procs {
		cmd := exec.Command(self, "mdtest", "-dir", root, "-files", strconv.Itoa(f.files), "-procs",
			strconv.Itoa(f.procs), "-size", strconv.Itoa(f.size), "-fanout", strconv.Itoa(f.fanout), "-worker", strconv.Itoa(r),
			"-stonewall", f.stonewall.String())
		cmd.Stderr = os.Stderr
		cmd.Env = append(os.Environ(), workerEnv+"=1")
		in, err := cmd.StdinPipe()
		if err != nil {
			return err
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			return err
		}
		if err := cmd.Start(); err != nil {
			return err
		}
		procs[r] = proc{cmd, in, bufio.NewReader(out)}
		defer func() { in.Close(); cmd.Wait() }()
	}
	// Wait until every worker is up, so that process start-up is not timed.
	for _, p := range procs {
		if line, err := p.out.ReadString('\n'); err != nil || line != "ready\n" {
			return fmt.Errorf("worker did not start: %q %v", line, err)
		}
	}
	var failed error
	for _, phase := range mdPhases {
		start := time.Now()
		for _, p := range procs {
			if _, err := fmt.Fprintln(p.in, phase); err != nil {
				return err
			}
		}
		var ops, errs int64
		for r, p := range procs {
			line, err := p.out.ReadString('\n')
			if err != nil {
				return fmt.Errorf("worker %d: %w", r, err)
			}
			fields := strings.SplitN(strings.TrimSpace(line), " ", 4)
			if len(fields) < 3 || fields[0] != "ok" {
				return fmt.Errorf("worker %d: bad answer %q", r, line)
			}
			n, _ := strconv.ParseInt(fields[1], 10, 64)
			e, _ := strconv.ParseInt(fields[2], 10, 64)
			ops += n
			errs += e
			if e > 0 && failed == nil {
				failed = fmt.Errorf("%s: worker %d: %d errors, first: %s", phase, r, e, fields[3])
			}
		}
		emit(result{Phase: phase, Jobs: f.procs, Ops: ops, Errors: errs, Seconds: time.Since(start).Seconds()})
	}
	return failed
}

// mdWorker runs the phases the parent sends on stdin for rank f.worker.
func mdWorker(f mdFlags) error {
	var mine []int // file indexes of this rank
	for i := f.worker; i < f.files; i += f.procs {
		mine = append(mine, i)
	}
	base := filepath.Join(f.dir, "r"+strconv.Itoa(f.worker))
	dirOf := func(k int) string { return filepath.Join(base, "d"+strconv.Itoa(k/f.fanout)) }
	pathOf := func(k int) string { return filepath.Join(dirOf(k), "f"+strconv.Itoa(mine[k])) }
	ndirs := (len(mine) + f.fanout - 1) / f.fanout
	buf := make([]byte, f.size+1)
	fmt.Println("ready")
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		var ops, errs int64
		var first error
		do := func(err error) {
			ops++
			if err != nil {
				errs++
				if first == nil {
					first = err
				}
			}
		}
		switch in.Text() {
		case "mkdir":
			do(os.Mkdir(base, 0o755))
			for d := range ndirs {
				do(os.Mkdir(dirOf(d*f.fanout), 0o755))
			}
		case "create":
			var end time.Time
			if f.stonewall > 0 {
				end = time.Now().Add(f.stonewall)
			}
			for k := range mine {
				if !end.IsZero() && time.Now().After(end) {
					mine = mine[:k] // the later phases work on the files created
					break
				}
				do(mdCreate(pathOf(k), mdContent(mine[k], f.size)))
			}
		case "stat":
			for k := range mine {
				st, err := os.Stat(pathOf(k))
				if err == nil && st.Size() != int64(f.size) {
					err = fmt.Errorf("%s: size %d, want %d", pathOf(k), st.Size(), f.size)
				}
				do(err)
			}
		case "read":
			for k := range mine {
				do(mdRead(pathOf(k), mdContent(mine[k], f.size), buf))
			}
		case "remove":
			for k := range mine {
				do(os.Remove(pathOf(k)))
			}
		case "rmdir":
			for d := range ndirs {
				do(os.Remove(dirOf(d * f.fanout)))
			}
			do(os.Remove(base))
		default:
			return fmt.Errorf("unknown phase %q", in.Text())
		}
		msg := ""
		if first != nil {
			msg = " " + strings.ReplaceAll(first.Error(), "\n", " ")
		}
		fmt.Printf("ok %d %d%s\n", ops, errs, msg)
	}
	return in.Err()
}

// mdContent is the content of file i: its index repeated, cut to size bytes.
func mdContent(i, size int) []byte {
	return bytes.Repeat([]byte(strconv.Itoa(i)+"\n"), size/2+1)[:size]
}

func mdCreate(path string, data []byte) error {
	fh, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := fh.Write(data); err != nil {
		fh.Close()
		return err
	}
	return fh.Close()
}

func mdRead(path string, want, buf []byte) error {
	fh, err := os.Open(path)
	if err != nil {
		return err
	}
	defer fh.Close()
	n, err := io.ReadFull(fh, buf)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return err
	}
	if !bytes.Equal(buf[:n], want) {
		return fmt.Errorf("%s: read %d bytes that differ from the %d written", path, n, len(want))
	}
	return nil
}
