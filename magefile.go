//go:build mage

// NecroStack's build targets. Run `go tool mage -l` to list them.
package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/magefile/mage/mg"
)

// modules lists the workspace's library and app modules, in dependency
// order. The root module holds only tools and this file.
var modules = []string{
	"core",
	"backends/memory",
	"backends/redis",
	"apps/seance",
	"apps/etl",
}

// e2eModule holds the end-to-end scenarios: linted and built with the
// others, run by E2E.
const e2eModule = "e2e"

// benchModules are the modules with benchmarks.
var benchModules = []string{"core", "backends/memory", "apps/seance"}

// Test vets and runs every module's tests with the race detector, then builds
// and tests each module on its own (GOWORK=off) as a user who requires it would.
func Test() error {
	for _, m := range modules {
		if err := goIn(m, nil, "vet", "./..."); err != nil {
			return err
		}
		if err := goIn(m, nil, "test", "-race", "-count=1", "./..."); err != nil {
			return err
		}
	}
	return TestStandalone()
}

// TestStandalone builds and tests each module with GOWORK=off, so that every
// module works through its own go.mod and replace directives.
func TestStandalone() error {
	off := []string{"GOWORK=off"}
	if err := goIn(e2eModule, off, "vet", "./..."); err != nil {
		return err
	}
	for _, m := range modules {
		if err := goIn(m, off, "build", "./..."); err != nil {
			return err
		}
		if err := goIn(m, off, "test", "-count=1", "-short", "./..."); err != nil {
			return err
		}
	}
	return nil
}

// Lint checks formatting (gofmt), go vet and staticcheck on every module.
func Lint() error {
	out, err := exec.Command("gofmt", "-l", ".").CombinedOutput()
	if err != nil {
		return fmt.Errorf("gofmt: %v\n%s", err, out)
	}
	if files := strings.TrimSpace(string(out)); files != "" {
		return fmt.Errorf("gofmt: these files need formatting:\n%s", files)
	}
	for _, m := range append(modules, e2eModule) {
		if err := goIn(m, nil, "vet", "./..."); err != nil {
			return err
		}
		if err := goIn(m, nil, "tool", "staticcheck", "./..."); err != nil {
			return err
		}
	}
	return nil
}

// Bench runs the benchmarks (handled events per second, allocations per
// event) with -benchmem.
func Bench() error {
	for _, m := range benchModules {
		if err := goIn(m, nil, "test", "-run", "^$", "-bench", ".", "-benchmem", "-count", "5", "./..."); err != nil {
			return err
		}
	}
	return nil
}

// Fuzz runs the event decoder's fuzz test for 30 seconds.
func Fuzz() error {
	return goIn("core", nil, "test", "-run", "^$", "-fuzz", "^FuzzDecodeEvent$", "-fuzztime", "30s", ".")
}

// E2E runs the end-to-end scenarios: a real Redis in Docker (else a
// redis-server process) and the apps' binaries as worker processes.
func E2E() error {
	env := []string{"TESTCONTAINERS_RYUK_DISABLED=true"}
	return goIn(e2eModule, env, "test", "-count=1", "-timeout", "15m", "-v", "./...")
}

// CI runs what continuous integration runs: lint, the tests, then the
// end-to-end scenarios.
func CI() {
	mg.SerialDeps(Lint, Test, E2E)
}

// Tidy runs go mod tidy in every module and the root.
func Tidy() error {
	for _, m := range append(append([]string{"."}, modules...), e2eModule) {
		if err := goIn(m, nil, "mod", "tidy"); err != nil {
			return err
		}
	}
	return nil
}

// goIn runs the go command in module dir with extra environment, streaming
// its output, and names the module in the error.
func goIn(dir string, env []string, args ...string) error {
	fmt.Printf("==> (%s) go %s\n", dir, strings.Join(args, " "))
	cmd := exec.Command("go", args...)
	cmd.Dir = filepath.Clean(dir)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return fmt.Errorf("%s: go %s: exit status %d", dir, strings.Join(args, " "), exit.ExitCode())
		}
		return fmt.Errorf("%s: go %s: %w", dir, strings.Join(args, " "), err)
	}
	return nil
}
