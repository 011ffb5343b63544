// Package apprun builds the NecroStack apps' commands once per test binary
// and runs them as real processes: workers whose output is captured while
// they run, that a test can stop with SIGTERM or kill with SIGKILL, and that
// never outlive the test.
//
// The e2e module does not import the apps: Binary builds each command with
// the go tool from the app's own module folder in the repository the e2e
// folder belongs to, so the binaries are exactly what a user would build.
package apprun

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildMu  sync.Mutex
	buildDir string
	builds   = map[string]*build{}
)

type build struct {
	once sync.Once
	path string
	err  error
}

// Binary returns the path of app's command (the package apps/<app>/cmd of
// the repository, such as "seance" or "etl"), built on first use in this
// test binary. It fails t if the build fails. NECROSTACK_E2E_<APP>_BIN
// (NECROSTACK_E2E_SEANCE_BIN, ...) names a prebuilt binary to use instead,
// to test a released build.
func Binary(t testing.TB, app string) string {
	t.Helper()
	if p := os.Getenv("NECROSTACK_E2E_" + strings.ToUpper(app) + "_BIN"); p != "" {
		return p
	}
	buildMu.Lock()
	b, ok := builds[app]
	if !ok {
		b = &build{}
		builds[app] = b
	}
	buildMu.Unlock()
	b.once.Do(func() { b.path, b.err = buildApp(app) })
	if b.err != nil {
		t.Fatalf("apprun: build %s: %v", app, b.err)
	}
	return b.path
}

// RemoveBinaries deletes what Binary built. Call it from TestMain once the
// tests have run.
func RemoveBinaries() {
	buildMu.Lock()
	defer buildMu.Unlock()
	if buildDir != "" {
		os.RemoveAll(buildDir)
		buildDir = ""
	}
}

func buildApp(app string) (string, error) {
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(root, "apps", app)
	if _, err := os.Stat(filepath.Join(dir, "cmd")); err != nil {
		return "", fmt.Errorf("no command for app %q: %w", app, err)
	}
	buildMu.Lock()
	if buildDir == "" {
		d, err := os.MkdirTemp("", "necrostack-e2e-bin-")
		if err != nil {
			buildMu.Unlock()
			return "", err
		}
		buildDir = d
	}
	out := filepath.Join(buildDir, app)
	buildMu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	// go test puts its own toolchain first on the PATH of the test binary.
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd")
	cmd.Dir = dir
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build in %s: %w\n%s", dir, err, msg)
	}
	fmt.Printf("apprun: built %s in %v\n", app, time.Since(start).Round(time.Millisecond))
	return out, nil
}

// repoRoot is the closest folder above the working directory (the test's
// package folder) that holds apps/.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if info, err := os.Stat(filepath.Join(dir, "apps")); err == nil && info.IsDir() {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no apps/ folder above the working directory: run the tests from the repository")
		}
		dir = parent
	}
}

// Proc is a running command with its stdout and stderr captured. Its methods
// are safe to call from any goroutine; those that take no testing.TB
// report no failure themselves.
type Proc struct {
	t      testing.TB
	name   string
	cmd    *exec.Cmd
	stdout *buffer
	stderr *buffer
	done   chan struct{} // closed once the process is waited for
}

// Start starts bin with args, named name in messages, and kills it when t
// ends if it is still running, logging the tail of its output if t failed.
func Start(t testing.TB, name, bin string, args ...string) *Proc {
	t.Helper()
	p := &Proc{t: t, name: name, stdout: &buffer{}, stderr: &buffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	// A worker never outlives the test binary, even one killed by
	// go test -timeout.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("apprun: start %s: %v", name, err)
	}
	go func() {
		_ = p.cmd.Wait() // the exit status is in cmd.ProcessState
		close(p.done)
	}()
	t.Cleanup(p.cleanup)
	return p
}

// Run runs bin with args to completion, within ctx, and returns its output
// and exit code. It fails t if the command cannot start or ctx ends first.
func Run(ctx context.Context, t testing.TB, name, bin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	p := Start(t, name, bin, args...)
	code, err := p.Wait(ctx)
	if err != nil {
		p.Kill()
		t.Fatalf("apprun: %s did not finish: %v\nstderr:\n%s", name, err, Tail(p.Stderr(), 30))
	}
	return p.Stdout(), p.Stderr(), code
}

func (p *Proc) String() string { return fmt.Sprintf("%s (pid %d)", p.name, p.cmd.Process.Pid) }

// Name is the name given to Start.
func (p *Proc) Name() string { return p.name }

// Pid is the process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Stdout returns everything the process has written to stdout so far.
func (p *Proc) Stdout() string { return p.stdout.String() }

// Stderr returns everything the process has written to stderr so far.
func (p *Proc) Stderr() string { return p.stderr.String() }

// Done is closed when the process has exited and its output is complete.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// ExitCode returns the exit status, or -1 while the process runs or when a
// signal ended it.
func (p *Proc) ExitCode() int {
	if !p.Exited() {
		return -1
	}
	return p.cmd.ProcessState.ExitCode()
}

// Wait waits for the process to exit, or for ctx to end, and returns its
// exit status (-1 for a signal).
func (p *Proc) Wait(ctx context.Context) (int, error) {
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode(), nil
	case <-ctx.Done():
		return -1, fmt.Errorf("%s still running: %w", p, ctx.Err())
	}
}

// Signal sends sig, unless the process has already exited.
func (p *Proc) Signal(sig os.Signal) error {
	if p.Exited() {
		return nil
	}
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signal %s: %w", p, err)
	}
	return nil
}

// Kill sends SIGKILL, as a crash would, and waits until the process is gone.
func (p *Proc) Kill() {
	_ = p.Signal(syscall.SIGKILL)
	<-p.done
}

// Stop sends SIGTERM and waits up to timeout for the process to exit, then
// returns its exit status. A process still running after timeout fails the
// test and is killed.
func (p *Proc) Stop(timeout time.Duration) int {
	p.t.Helper()
	if err := p.Signal(syscall.SIGTERM); err != nil {
		p.t.Errorf("apprun: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	code, err := p.Wait(ctx)
	if err != nil {
		p.t.Errorf("apprun: %s ignored SIGTERM for %v; killing it\nstderr:\n%s", p, timeout, Tail(p.Stderr(), 30))
		p.Kill()
		return -1
	}
	return code
}

func (p *Proc) cleanup() {
	running := !p.Exited()
	if running {
		p.Kill()
	}
	if p.t.Failed() {
		state := "exited " + p.cmd.ProcessState.String()
		if running {
			state = "killed at cleanup"
		}
		p.t.Logf("apprun: %s, %s\n--- stderr (tail):\n%s\n--- stdout (tail):\n%s",
			p, state, Tail(p.Stderr(), 40), Tail(p.Stdout(), 20))
	}
}

// Tail returns the last n lines of s, without the final newline.
func Tail(s string, n int) string {
	s = strings.TrimRight(s, "\n")
	if n <= 0 {
		return ""
	}
	end := len(s)
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '\n' {
			n--
			if n == 0 {
				return s[i+1 : end]
			}
		}
	}
	return s
}

// buffer is a bytes.Buffer safe for one writer and many readers.
type buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
