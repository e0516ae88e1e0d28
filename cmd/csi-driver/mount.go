package main

import "errors"

// runMount is written with pkg/fusefs (issue 5).
func runMount(args []string) error { return errors.New("mount: the filesystem is not built yet") }
