package fusefs

import (
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cassfs/cassfs/internal/testenv"
)

// workloadModule is the module whose sources the workload test copies and builds (the version is go.mod's).
const (
	workloadModule  = "github.com/klauspost/compress"
	workloadPackage = "./s2/cmd/s2c"
)

// TestCassandraWorkload copies a Go module's sources from the module cache onto a mount of a real Cassandra
// volume as a tar stream, builds a command there and in a local directory with `go build -trimpath`, and checks
// that every copied file has the same checksum and mode, that the two binaries are identical, and that they
// compress a file on their own tree to identical outputs.
//
// By default only the files of the packages the command is built from are copied, and both builds use the
// user's build cache, where the standard library is usually compiled already; each build passes the module's
// packages a compiler flag of its own (-D, which has no effect on module code) so that both compile them afresh.
// The flags show in the binaries (build IDs, and the build settings recorded in them), so the binaries are
// compared with their build-ID notes zeroed and the mount's flag text replaced by the local one (same length).
// FUSEFS_WORKLOAD_FULL=1 copies the whole module (with its test data) and gives each build a fresh cache, the
// mount build's on the mount: everything, the standard library included, is compiled and written there.
func TestCassandraWorkload(t *testing.T) {
	full := os.Getenv("FUSEFS_WORKLOAD_FULL") != ""
	src := goOut(t, "", "list", "-m", "-f", "{{.Dir}}", workloadModule)
	if src == "" {
		t.Fatalf("%s is not in the module cache", workloadModule)
	}
	files := []string{"."}
	if !full {
		files = workloadFiles(t, src)
	}
	c, id := cassVolume(t, 0)
	mnt := mountCass(t, c, id, "workload", nil, Options{})
	trees := map[string]string{"mount": join(mnt, "src"), "local": join(t.TempDir(), "src")}
	caches := map[string]string{"mount": "", "local": ""} // the user's
	if full {
		caches = map[string]string{"mount": join(mnt, "gocache"), "local": join(t.TempDir(), "gocache")}
	}
	nonce := testenv.UniqueName("")
	if !full {
		// Warm the user's cache with the standard library as -trimpath builds it, so that neither timed build
		// pays for it. The module's packages built here carry no -D flag: the timed builds still compile them.
		start := time.Now()
		goBuild(t, src, "", os.DevNull, workloadPackage)
		t.Logf("warm-up build in the module cache: %v", time.Since(start))
	}
	took := map[string][]time.Duration{}
	for _, side := range []string{"mount", "local"} {
		dst := trees[side]
		must(t, os.Mkdir(dst, 0o755))
		start := time.Now()
		tarCopy(t, src, dst, files)
		took[side] = append(took[side], time.Since(start))
	}
	want := treeSums(t, src, files)
	var bytesCopied int64
	for _, s := range want {
		bytesCopied += s.size
	}
	for side, dst := range trees {
		got := treeSums(t, dst, files)
		if len(got) != len(want) {
			t.Errorf("%s tree has %d entries, want %d", side, len(got), len(want))
		}
		for name, w := range want {
			if g, ok := got[name]; !ok {
				t.Errorf("%s: %s missing", side, name)
			} else if g != w {
				t.Errorf("%s: %s differs: %+v, want %+v", side, name, g, w)
			}
		}
	}
	for _, side := range []string{"mount", "local"} {
		dst := trees[side]
		start := time.Now()
		var flags []string
		if !full {
			flags = []string{"-gcflags=" + workloadModule + "/...=-D=/cassfs-" + side + "-" + nonce}
		}
		goBuild(t, dst, caches[side], join(dst, "s2c.bin"), workloadPackage, flags...)
		took[side] = append(took[side], time.Since(start))
	}
	bm, bl := binaryWithoutBuildID(t, join(trees["mount"], "s2c.bin")), binaryWithoutBuildID(t, join(trees["local"], "s2c.bin"))
	bm = bytes.ReplaceAll(bm, []byte("/cassfs-mount-"+nonce), []byte("/cassfs-local-"+nonce))
	if !bytes.Equal(bm, bl) {
		t.Errorf("the binary built on the mount (%d bytes) differs from the local one (%d bytes) at byte %d", len(bm), len(bl),
			firstDiff(bm, bl))
	}
	// Run each binary on its own tree: compress the same input into the tree.
	input := bytes.Repeat([]byte(strings.Repeat("the quick brown fox jumps over the lazy dog ", 20)+"\n"), 4000)
	var outs [2][32]byte
	for i, side := range []string{"mount", "local"} {
		dst := trees[side]
		writeFile(t, join(dst, "input.txt"), input)
		start := time.Now()
		cmd := shCommand("", join(dst, "s2c.bin"), "-o", join(dst, "input.txt.s2"), join(dst, "input.txt"))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: s2c: %v\n%s", side, err, out)
		}
		took[side] = append(took[side], time.Since(start))
		outs[i] = fileSum(t, join(dst, "input.txt.s2"))
	}
	if outs[0] != outs[1] {
		t.Errorf("the compressed outputs differ")
	}
	t.Logf("MEASURED (full=%v): %d files, %d bytes of %s; copy / go build -trimpath %s / run: mount %v, local %v",
		full, len(want), bytesCopied, workloadModule, workloadPackage, took["mount"], took["local"])
}

// workloadFiles lists, relative to the module root src, go.mod, go.sum and the files of every package of the
// module that the workload package is built from (subdirectories excluded).
func workloadFiles(t *testing.T, src string) []string {
	dirs := strings.Fields(goOut(t, src, "list", "-deps", "-f", "{{if not .Standard}}{{.Dir}}{{end}}", workloadPackage))
	files := []string{"go.mod", "go.sum"}
	for _, d := range dirs {
		entries, err := os.ReadDir(d)
		must(t, err)
		rel, err := filepath.Rel(src, d)
		must(t, err)
		for _, e := range entries {
			if e.Type().IsRegular() {
				files = append(files, filepath.Join(rel, e.Name()))
			}
		}
	}
	sort.Strings(files)
	return files
}

// goEnv is the environment of the go commands: offline, no VCS stamping, the local toolchain.
func goEnv(cache string) []string {
	env := append(os.Environ(), "GOFLAGS=-buildvcs=false", "GOPROXY=off", "GOTOOLCHAIN=local", "GOWORK=off")
	if cache != "" {
		env = append(env, "GOCACHE="+cache)
	}
	return env
}

func goOut(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Env = goEnv("")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go %v: %v", args, err)
	}
	return strings.TrimSpace(string(out))
}

// shCommand runs name with args in dir ("" for the current one) through /bin/sh. The test process serves the
// mount, and the child it forks shares its memory until it calls exec: if that exec reads a binary on the mount
// (or the child enters a directory there), it can wait on the server while holding memory the server needs.
// The shell is a separate process by the time it changes directory and execs the command.
func shCommand(dir, name string, args ...string) *exec.Cmd {
	return exec.Command("/bin/sh", append([]string{"-c", `if [ -n "$1" ]; then cd "$1" || exit 1; fi; shift; exec "$@"`,
		"sh", dir, name}, args...)...)
}

func goBuild(t *testing.T, dir, cache, out, pkg string, flags ...string) {
	t.Helper()
	cmd := shCommand(dir, "go", append(append([]string{"build", "-trimpath"}, flags...), "-o", out, pkg)...)
	cmd.Env = goEnv(cache)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build in %s: %v\n%s", dir, err, b)
	}
}

// tarCopy copies files (relative to src) into dst as one tar stream between two tar processes, and makes the
// copy writable (the module cache's files are read-only).
func tarCopy(t *testing.T, src, dst string, files []string) {
	t.Helper()
	pack := exec.Command("tar", append([]string{"-C", src, "-cf", "-", "--"}, files...)...)
	unpack := exec.Command("tar", "-C", dst, "-xf", "-")
	r, w := io.Pipe()
	pack.Stdout = w
	unpack.Stdin = r
	var perr, uerr bytes.Buffer
	pack.Stderr, unpack.Stderr = &perr, &uerr
	must(t, unpack.Start())
	if err := pack.Run(); err != nil {
		t.Fatalf("tar -c: %v\n%s", err, perr.String())
	}
	w.Close()
	if err := unpack.Wait(); err != nil {
		t.Fatalf("tar -x into %s: %v\n%s", dst, err, uerr.String())
	}
	if out, err := exec.Command("chmod", "-R", "u+w", dst).CombinedOutput(); err != nil {
		t.Fatalf("chmod: %v\n%s", err, out)
	}
}

// binaryWithoutBuildID returns the ELF file at p with its Go and GNU build-ID notes zeroed.
func binaryWithoutBuildID(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	must(t, err)
	f, err := elf.NewFile(bytes.NewReader(b))
	must(t, err)
	for _, name := range []string{".note.go.buildid", ".note.gnu.build-id"} {
		if s := f.Section(name); s != nil && s.Type != elf.SHT_NOBITS {
			clear(b[s.Offset : s.Offset+s.FileSize])
		}
	}
	return b
}

type fileSumEntry struct {
	mode fs.FileMode
	size int64
	sum  [32]byte
	link string
}

// treeSums returns the checksum, size and type of every file under root reachable from files (relative paths).
// Permission bits are left out: tarCopy makes the copies writable.
func treeSums(t *testing.T, root string, files []string) map[string]fileSumEntry {
	t.Helper()
	sums := map[string]fileSumEntry{}
	for _, f := range files {
		err := filepath.WalkDir(join(root, f), func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, err := filepath.Rel(root, p)
			if err != nil {
				return err
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			e := fileSumEntry{mode: info.Mode().Type()}
			switch {
			case d.Type().IsRegular():
				e.size = info.Size()
				e.sum = fileSum(t, p)
			case d.Type()&fs.ModeSymlink != 0:
				if e.link, err = os.Readlink(p); err != nil {
					return err
				}
			case d.IsDir():
			default:
				return nil
			}
			sums[rel] = e
			return nil
		})
		must(t, err)
	}
	return sums
}

func fileSum(t *testing.T, p string) [32]byte {
	t.Helper()
	f, err := os.Open(p)
	must(t, err)
	defer f.Close()
	h := sha256.New()
	_, err = io.Copy(h, f)
	must(t, err)
	var s [32]byte
	copy(s[:], h.Sum(nil))
	return s
}
