package workertest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// buildTimeout bounds one go build.
const buildTimeout = 5 * time.Minute

// builds holds what Build made in this test binary: one temporary folder,
// with a numbered folder per build, and one entry per package and name,
// built at most once.
var builds struct {
	mu   sync.Mutex
	dir  string
	n    int
	done map[buildKey]*build
}

type buildKey struct{ dir, name string }

type build struct {
	once sync.Once
	path string
	err  error
}

// Build builds the main package in folder dir (absolute, or relative to the
// working directory, which go test sets to the test's package folder) into
// a binary called name, and returns its path. It builds each dir and name
// once per test binary, however many tests ask, and fails t if the build
// fails. The go command runs in dir, with the test's environment (go test
// puts its own toolchain first on the PATH), so dir's module or workspace
// decides the dependencies. The binaries stay until RemoveBuilds.
func Build(t testing.TB, name, dir string) string {
	t.Helper()
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatalf("workertest: build %s: %v", name, err)
	}
	key := buildKey{abs, name}
	builds.mu.Lock()
	if builds.done == nil {
		builds.done = make(map[buildKey]*build)
	}
	b, ok := builds.done[key]
	if !ok {
		b = &build{}
		builds.done[key] = b
	}
	builds.mu.Unlock()
	b.once.Do(func() {
		start := time.Now()
		b.path, b.err = goBuild(key)
		if b.err == nil {
			t.Logf("workertest: built %s from %s in %v", name, abs, time.Since(start).Round(time.Millisecond))
		}
	})
	if b.err != nil {
		t.Fatalf("workertest: build %s: %v", name, b.err)
	}
	return b.path
}

// goBuild builds key.dir into a folder of its own in the builds' folder, so
// that two packages may share a name.
func goBuild(key buildKey) (string, error) {
	builds.mu.Lock()
	if builds.dir == "" {
		d, err := os.MkdirTemp("", "workertest-")
		if err != nil {
			builds.mu.Unlock()
			return "", err
		}
		builds.dir = d
	}
	builds.n++
	out := filepath.Join(builds.dir, strconv.Itoa(builds.n), key.name)
	builds.mu.Unlock()
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, ".")
	cmd.Dir = key.dir
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build in %s: %w\n%s", key.dir, err, msg)
	}
	return out, nil
}

// RemoveBuilds deletes what Build built; a later Build builds again. Call
// it from TestMain once the tests have run.
func RemoveBuilds() {
	builds.mu.Lock()
	defer builds.mu.Unlock()
	if builds.dir != "" {
		os.RemoveAll(builds.dir)
	}
	builds.dir, builds.done = "", nil
}
