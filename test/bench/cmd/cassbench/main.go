// Command cassbench holds the Go pieces of the CassFS benchmark harness (see package
// github.com/cassfs/cassfs/test/bench and hack/bench.sh).
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
)

var commands = map[string]func(args []string) error{
	"cfsmount":  runCFSMount,
	"loopback":  runLoopback,
	"rawcql":    runRawCQL,
	"mdtest":    runMDTest,
	"report":    runReport,
	"volume":    runVolume,
	"waitmount": runWaitMount,
}

func usage() {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintf(os.Stderr, "usage: cassbench %v [flags]\n", names)
}

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	run, ok := commands[os.Args[1]]
	if !ok {
		usage()
		os.Exit(2)
	}
	if err := run(os.Args[2:]); err != nil {
		fmt.Fprintf(os.Stderr, "cassbench %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

// result is one measured phase, printed as a single JSON line: {"result": {...}}.
type result struct {
	Phase   string  `json:"phase"`
	Jobs    int     `json:"jobs,omitempty"`
	Ops     int64   `json:"ops,omitempty"`
	Bytes   int64   `json:"bytes,omitempty"`
	Seconds float64 `json:"seconds"`
	OpsPerS float64 `json:"ops_per_s,omitempty"`
	MBPerS  float64 `json:"mb_per_s,omitempty"` // MB = 10^6 bytes, as fio's "MB/s"
	Errors  int64   `json:"errors,omitempty"`
}

func emit(r result) {
	if r.Seconds > 0 {
		if r.Ops > 0 {
			r.OpsPerS = float64(r.Ops) / r.Seconds
		}
		if r.Bytes > 0 {
			r.MBPerS = float64(r.Bytes) / r.Seconds / 1e6
		}
	}
	b, _ := json.Marshal(map[string]result{"result": r})
	fmt.Println(string(b))
}
