package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/necrostack/necrostack/worker"
	"github.com/necrostack/necrostack/worker/workertest"
)

// TestMain fails the package if a test leaves a goroutine behind, and
// removes the binary the tests built once they have run. The cleanup
// exits with goleak's code: one that returns instead drops it.
func TestMain(m *testing.M) {
	goredis.SetLogger(silentRedis{}) // as worker.Main does
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		workertest.RemoveBuilds()
		os.Exit(code)
	}))
}

type silentRedis struct{}

func (silentRedis) Printf(context.Context, string, ...any) {}

// stream is the ETL's default stream.
const stream = "necrostack:etl"

func writeCSV(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "input.csv")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// noEnv is a getenv for an empty environment.
func noEnv(string) string { return "" }

// runCmd runs the program in this process, as main would, in an empty
// environment.
func runCmd(ctx context.Context, args ...string) (code int, stdout, stderr string) {
	var out, errb workertest.Buffer
	code = worker.Run(ctx, app(), args, noEnv, &out, &errb)
	return code, out.String(), errb.String()
}

// background runs the program in this process until the returned stop is
// called, which returns its exit code.
func background(args ...string) (stop func() int, stdout, stderr *workertest.Buffer) {
	ctx, cancel := context.WithCancel(context.Background())
	stdout, stderr = &workertest.Buffer{}, &workertest.Buffer{}
	done := make(chan int, 1)
	go func() { done <- worker.Run(ctx, app(), args, noEnv, stdout, stderr) }()
	return func() int { cancel(); return <-done }, stdout, stderr
}

// waitFor polls cond until it holds, failing t after limit.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	for start := time.Now(); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Since(start) > limit {
			t.Fatalf("%s: not after %v", what, limit)
		}
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	return lines[len(lines)-1]
}

// Usage errors of the ETL's own: its -input where no job is seeded, and
// the usage that -h prints.
func TestUsage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string // in stderr
	}{
		{name: "input without value", args: []string{"-input"}, wantCode: worker.ExitUsage,
			wantErr: "flag needs an argument: -input"},
		{name: "worker with input", args: []string{"-backend", "redis", "-mode", "worker", "-input", "a.csv"}, wantCode: worker.ExitUsage,
			wantErr: "etl: -input: not used by -mode worker\n"},
		{name: "redrive with input", args: []string{"-backend", "redis", "-mode", "redrive", "-input", "a.csv"}, wantCode: worker.ExitUsage,
			wantErr: "etl: -input: not used by -mode redrive"},
		// The worker package's tests do not cover empty values yet.
		{name: "empty stream", args: []string{"-backend", "redis", "-stream", ""}, wantCode: worker.ExitUsage,
			wantErr: `invalid value "" for flag -stream: empty`},
		{name: "empty group", args: []string{"-backend", "redis", "-group", " "}, wantCode: worker.ExitUsage,
			wantErr: `invalid value " " for flag -group: empty`},
		{name: "empty consumer", args: []string{"-backend", "redis", "-mode", "worker", "-consumer", ""}, wantCode: worker.ExitUsage,
			wantErr: `invalid value "" for flag -consumer: empty`},
		{name: "help", args: []string{"-h"}, wantCode: worker.ExitOK,
			wantErr: "Loads a CSV file of haunting reports"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := runCmd(context.Background(), tt.args...)
			if code != tt.wantCode {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, tt.wantCode, stderr)
			}
			if !strings.Contains(stderr, tt.wantErr) {
				t.Errorf("stderr lacks %q:\n%s", tt.wantErr, stderr)
			}
			if stdout != "" {
				t.Errorf("stdout = %q, want nothing", stdout)
			}
		})
	}
	_, _, usage := runCmd(context.Background(), "-h")
	for _, s := range []string{"-input file", "CSV file of the job", "(default necrostack:etl)", "(default warn)", "redrive"} {
		if !strings.Contains(usage, s) {
			t.Errorf("the usage lacks %q:\n%s", s, usage)
		}
	}
}

// TestBinary runs the real program, to check the exit codes and output a
// user sees, and that failures are messages, not panics.
func TestBinary(t *testing.T) {
	t.Parallel()
	bin := workertest.Build(t, "etl", ".")
	missing := filepath.Join(t.TempDir(), "missing.csv")

	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
		oneLine    bool // stderr is wantStderr and nothing else
	}{
		{name: "sample", wantCode: worker.ExitOK, wantStdout: "TOTAL                           46        219", oneLine: true},
		{name: "missing file", args: []string{"-input", missing}, wantCode: worker.ExitFailed,
			wantStderr: "etl: open " + missing + ": no such file or directory\n", oneLine: true},
		{name: "bad flag", args: []string{"-verbose"}, wantCode: worker.ExitUsage,
			wantStderr: "flag provided but not defined: -verbose\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			stdout, stderr, code := workertest.Run(t.Context(), t, "etl", bin, tt.args...)
			if code != tt.wantCode {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, tt.wantCode, stderr)
			}
			if !strings.Contains(stdout, tt.wantStdout) {
				t.Errorf("stdout lacks %q:\n%s", tt.wantStdout, stdout)
			}
			if !strings.Contains(stderr, tt.wantStderr) {
				t.Errorf("stderr lacks %q:\n%s", tt.wantStderr, stderr)
			}
			if tt.oneLine && stderr != tt.wantStderr {
				t.Errorf("stderr = %q, want only %q", stderr, tt.wantStderr)
			}
			for _, s := range []string{"panic", "goroutine "} {
				if strings.Contains(stderr, s) {
					t.Errorf("stderr holds %q:\n%s", s, stderr)
				}
			}
		})
	}
}
