// Command testreport turns `go test -json` output into a short human log and a closing count line.
//
//	go test -json ./... | go run ./hack/testreport -save phase1.json
//	go run ./hack/testreport -summary phase1.json phase2.json
//
// While streaming it prints each package's result and the full output of every failed test; -summary prints
// "N passed, N failed, N skipped" over the saved runs (subtests included; a package that failed outside its tests
// counts as one failure) and exits 1 if any test or package failed.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

type event struct {
	Action  string
	Package string
	Test    string
	Output  string
	Elapsed float64
}

func main() {
	save := flag.String("save", "", "file to save the events to")
	summary := flag.Bool("summary", false, "print the totals of the saved files named as arguments")
	flag.Parse()
	if *summary {
		os.Exit(printSummary(flag.Args()))
	}
	os.Exit(stream(os.Stdin, *save))
}

func stream(r io.Reader, save string) int {
	var out io.Writer = io.Discard
	if save != "" {
		f, err := os.Create(save)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		defer f.Close()
		out = f
	}
	outputs := map[string][]string{} // package/test -> output lines, dropped when the test passes
	failed := 0
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if json.Unmarshal(line, &e) != nil || e.Action == "" {
			fmt.Println(string(line)) // build errors and other non-JSON lines
			continue
		}
		fmt.Fprintln(out, string(line))
		key := e.Package + " " + e.Test
		switch e.Action {
		case "output":
			outputs[key] = append(outputs[key], e.Output)
		case "pass", "skip":
			if e.Test == "" {
				tail := strings.TrimSpace(strings.Join(outputs[key], ""))
				if e.Action == "skip" && tail != "" {
					fmt.Printf("?   \t%s\t%s\n", e.Package, lastLine(tail))
				} else {
					fmt.Printf("ok  \t%s\t%.1fs\n", e.Package, e.Elapsed)
				}
			}
			if e.Action == "skip" && e.Test != "" {
				fmt.Printf("--- SKIP: %s (%s)\n%s", e.Test, e.Package, strings.Join(outputs[key], ""))
			}
			delete(outputs, key)
		case "fail":
			failed++
			if e.Test == "" {
				fmt.Printf("%sFAIL\t%s\t%.1fs\n", strings.Join(outputs[key], ""), e.Package, e.Elapsed)
			} else {
				fmt.Printf("--- FAIL: %s (%s, %.1fs)\n%s", e.Test, e.Package, e.Elapsed, strings.Join(outputs[key], ""))
			}
			delete(outputs, key)
		}
	}
	if failed > 0 {
		return 1
	}
	return 0
}

func lastLine(s string) string {
	lines := strings.Split(s, "\n")
	return lines[len(lines)-1]
}

func printSummary(files []string) int {
	var pass, fail, skip, pkgFail int
	var failures []string
	testFailed := map[string]bool{} // packages with a failed test
	var failedPkgs []string
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		for sc.Scan() {
			var e event
			if json.Unmarshal(sc.Bytes(), &e) != nil {
				continue
			}
			switch {
			case e.Test == "" && e.Action == "fail":
				pkgFail++
				failures = append(failures, e.Package)
				failedPkgs = append(failedPkgs, e.Package)
			case e.Test == "":
			case e.Action == "pass":
				pass++
			case e.Action == "fail":
				fail++
				testFailed[e.Package] = true
				failures = append(failures, e.Package+" "+e.Test)
			case e.Action == "skip":
				skip++
			}
		}
		f.Close()
	}
	// A package that failed with no failed test (a build failure, a panic or exit outside a test, a timeout)
	// counts as one failure, so that the closing line never says 0 failed for a red run.
	for _, p := range failedPkgs {
		if !testFailed[p] {
			fail++
			testFailed[p] = true
		}
	}
	sort.Strings(failures)
	for _, f := range failures {
		fmt.Println("failed:", f)
	}
	fmt.Printf("%d passed, %d failed, %d skipped\n", pass, fail, skip)
	if fail > 0 || pkgFail > 0 {
		return 1
	}
	return 0
}
