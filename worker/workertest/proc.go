package workertest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Proc is a running command with its stdout and stderr captured. Its methods
// are safe to call from any goroutine; those that take no testing.TB
// report no failure themselves.
type Proc struct {
	t      testing.TB
	name   string
	cmd    *exec.Cmd
	stdout *Buffer
	stderr *Buffer
	done   chan struct{} // closed once the process is waited for
}

// Start starts bin with args, named name in messages, and kills it when t
// ends if it is still running, logging the tail of its output if t failed.
// It fails t if the command cannot start.
func Start(t testing.TB, name, bin string, args ...string) *Proc {
	t.Helper()
	p := &Proc{t: t, name: name, stdout: &Buffer{}, stderr: &Buffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	dieWithParent(p.cmd)
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("workertest: start %s: %v", name, err)
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
		t.Fatalf("workertest: %s did not finish: %v\nstderr:\n%s", name, err, Tail(p.Stderr(), 30))
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
		p.t.Errorf("workertest: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	code, err := p.Wait(ctx)
	if err != nil {
		p.t.Errorf("workertest: %s ignored SIGTERM for %v; killing it\nstderr:\n%s", p, timeout, Tail(p.Stderr(), 30))
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
		p.t.Logf("workertest: %s, %s\n--- stderr (tail):\n%s\n--- stdout (tail):\n%s",
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
