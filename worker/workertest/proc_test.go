package workertest_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/necrostack/necrostack/worker/workertest"
)

func TestTail(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   string
		n    int
		want string
	}{
		{"", 3, ""},
		{"a\nb\nc\n", 2, "b\nc"},
		{"a\nb\nc", 5, "a\nb\nc"},
		{"a\nb\nc\n", 3, "a\nb\nc"},
		{"a\nb\nc\n", 0, ""},
	} {
		if got := workertest.Tail(tt.in, tt.n); got != tt.want {
			t.Errorf("Tail(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}

// A process's output is captured while it runs, SIGTERM stops it with the
// status it chooses, and Run returns a finished command's output.
func TestProc(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p := workertest.Start(t, "looper", "sh", "-c", `trap 'echo bye >&2; exit 3' TERM; echo ready; while :; do sleep 0.05; done`)
	for !strings.Contains(p.Stdout(), "ready") {
		if ctx.Err() != nil {
			t.Fatal("no output")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := p.Stop(10 * time.Second); got != 3 {
		t.Errorf("Stop: exit %d, want 3", got)
	}
	if got := p.Stderr(); got != "bye\n" {
		t.Errorf("stderr %q, want %q", got, "bye\n")
	}
	out, _, code := workertest.Run(ctx, t, "echo", "sh", "-c", "echo hi; exit 4")
	if out != "hi\n" || code != 4 {
		t.Errorf("Run: %q, exit %d; want %q, exit 4", out, code, "hi\n")
	}
	k := workertest.Start(t, "sleeper", "sleep", "30")
	k.Kill()
	if k.ExitCode() != -1 {
		t.Errorf("killed process: exit code %d, want -1", k.ExitCode())
	}
}

// A process still running when its test ends is killed at the test's
// cleanup.
func TestProcKilledAtCleanup(t *testing.T) {
	t.Parallel()
	var p *workertest.Proc
	t.Run("starts", func(t *testing.T) {
		p = workertest.Start(t, "sleeper", "sleep", "30")
	})
	if !p.Exited() {
		t.Errorf("%s still runs after its test ended", p)
	}
}
