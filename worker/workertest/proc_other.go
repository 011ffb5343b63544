//go:build !linux

package workertest

import "os/exec"

// dieWithParent does nothing where the kernel offers no parent-death
// signal: a child then dies at its test's cleanup, not with a test binary
// killed from outside.
func dieWithParent(*exec.Cmd) {}
