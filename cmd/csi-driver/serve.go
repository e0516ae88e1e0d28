package main

import "errors"

// runServe is written with pkg/driver (issue 6).
func runServe(args []string) error { return errors.New("serve: the CSI services are not built yet") }
