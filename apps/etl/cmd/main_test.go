package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9/logging"
	"go.uber.org/goleak"

	"github.com/necrostack/necrostack/worker/workertest"
)

// TestMain fails the package if a test leaves a goroutine behind, and
// removes the binary the tests built once they have run.
func TestMain(m *testing.M) {
	logging.Disable() // as main does
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		workertest.RemoveBuilds()
		os.Exit(code)
	}))
}

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

func runCmd(ctx context.Context, args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(ctx, args, noEnv, &out, &errb)
	return code, out.String(), errb.String()
}

func TestRunSample(t *testing.T) {
	t.Parallel()
	code, stdout, stderr := runCmd(context.Background())
	if code != 0 {
		t.Fatalf("exit %d, want 0; stderr:\n%s", code, stderr)
	}
	for _, s := range []string{
		"Haunting report: hauntings.csv (embedded sample)\n",
		"55 rows read: 46 kept, 9 dropped\n",
		"TOTAL                           46        219",
		"Dropped per reason: bad_date 2, missing_field 1,",
	} {
		if !strings.Contains(stdout, s) {
			t.Errorf("stdout lacks %q:\n%s", s, stdout)
		}
	}
	if stderr != "" {
		t.Errorf("stderr = %q, want nothing at the default log level", stderr)
	}
}

func TestRunInput(t *testing.T) {
	t.Parallel()
	path := writeCSV(t, "date,location,spirit,sightings,intensity\n"+
		"2024-10-31,Crypt,Banshee,3,9.5\n"+
		"2024-11-01,Crypt,Wraith,6,4.5\n"+
		"2024-11-02,Belfry,Banshee,2,6\n")
	code, stdout, stderr := runCmd(context.Background(), "-input", path)
	if code != 0 {
		t.Fatalf("exit %d, want 0; stderr:\n%s", code, stderr)
	}
	want := "Haunting report: " + path + `
3 rows read: 3 kept, 0 dropped
Dates: 2024-10-31 to 2024-11-02

LOCATION  ROWS  SIGHTINGS  MEAN INTENSITY  MAX INTENSITY  TOP SPIRIT
Belfry       1          2            6.00           6.00  Banshee
Crypt        2          9            7.00           9.50  Wraith
--------------------------------------------------------------------
TOTAL        3         11            6.67           9.50  Wraith
`
	if stdout != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", stdout, want)
	}
}

func TestRunLogLevel(t *testing.T) {
	t.Parallel()
	code, _, stderr := runCmd(context.Background(), "-log-level", "DEBUG")
	if code != 0 {
		t.Fatalf("exit %d, want 0; stderr:\n%s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	for _, l := range lines {
		if !json.Valid([]byte(l)) {
			t.Errorf("log line is not JSON: %s", l)
		}
	}
	if !strings.Contains(stderr, `"organ":"Reporter"`) {
		t.Errorf("debug logs lack the Reporter's dispatch:\n%s", stderr)
	}
}

func TestRunFailures(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.csv")
	noValid := writeCSV(t, "date,location,spirit,sightings,intensity\n"+
		"2024-02-30,Crypt,Banshee,1,1\n"+
		"2024-10-31,Crypt,Banshee,lots,1\n")
	badHeader := writeCSV(t, "when,where,who\n")
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()

	tests := []struct {
		name     string
		ctx      context.Context
		args     []string
		wantCode int
		wantLast string // the last line of stderr
		wantErr  string // anywhere in stderr
	}{
		{
			name:     "missing file",
			args:     []string{"-input", missing},
			wantCode: 1,
			wantLast: "etl: open " + missing + ": no such file or directory",
		},
		{
			name:     "directory",
			args:     []string{"-input", dir},
			wantCode: 1,
			wantLast: "etl: " + dir + " is a directory, want a CSV file",
		},
		{
			name:     "no valid rows",
			args:     []string{"-input", noValid},
			wantCode: 1,
			wantLast: "etl: Cleaner: no valid rows in " + noValid + " (2 rows dropped: bad_date 1, not_a_number 1)",
		},
		{
			name:     "bad header",
			args:     []string{"-input", badHeader},
			wantCode: 1,
			wantLast: "etl: Extractor: extract " + badHeader + ": bad header: missing columns date, location, spirit, sightings, intensity (header has when, where, who)",
		},
		{
			name:     "interrupted",
			ctx:      cancelled,
			wantCode: 1,
			wantLast: "etl: interrupted",
		},
		{
			name:     "unknown flag",
			args:     []string{"-nope"},
			wantCode: 2,
			wantErr:  "flag provided but not defined: -nope",
		},
		{
			name:     "bad log level",
			args:     []string{"-log-level", "loud"},
			wantCode: 2,
			wantErr:  `invalid value "loud" for flag -log-level: want debug, info, warn or error`,
		},
		{
			name:     "input without value",
			args:     []string{"-input"},
			wantCode: 2,
			wantErr:  "flag needs an argument: -input",
		},
		{
			name:     "positional argument",
			args:     []string{"hauntings.csv"},
			wantCode: 2,
			wantLast: `etl: unexpected argument "hauntings.csv": the input file goes in -input`,
		},
		{
			name:     "help",
			args:     []string{"-h"},
			wantCode: 0,
			wantErr:  "-log-level level",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := tt.ctx
			if ctx == nil {
				ctx = context.Background()
			}
			code, stdout, stderr := runCmd(ctx, tt.args...)
			if code != tt.wantCode {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, tt.wantCode, stderr)
			}
			lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
			if last := lines[len(lines)-1]; tt.wantLast != "" && last != tt.wantLast {
				t.Errorf("last line of stderr:\n got  %q\n want %q", last, tt.wantLast)
			}
			if !strings.Contains(stderr, tt.wantErr) {
				t.Errorf("stderr lacks %q:\n%s", tt.wantErr, stderr)
			}
			if stdout != "" {
				t.Errorf("stdout = %q, want nothing", stdout)
			}
		})
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
		{name: "sample", wantCode: 0, wantStdout: "TOTAL                           46        219"},
		{name: "missing file", args: []string{"-input", missing}, wantCode: 1,
			wantStderr: "etl: open " + missing + ": no such file or directory\n", oneLine: true},
		{name: "bad flag", args: []string{"-verbose"}, wantCode: 2,
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

func TestRedisFlags(t *testing.T) {
	t.Parallel()
	url := startMiniredis(t)
	missing := filepath.Join(t.TempDir(), "missing.csv")
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == envRedisURL {
				return v
			}
			return ""
		}
	}
	tests := []struct {
		name     string
		args     []string
		env      func(string) string
		wantCode int
		wantErr  string // in stderr
		wantOut  string // in stdout
	}{
		{name: "worker on memory", args: []string{"-mode", "worker"}, wantCode: 2,
			wantErr: "etl: -mode worker needs -backend redis"},
		{name: "emit on memory", args: []string{"-backend", "memory", "-mode", "emit"}, wantCode: 2,
			wantErr: "etl: -mode emit needs -backend redis"},
		{name: "stream on memory", args: []string{"-stream", "x"}, wantCode: 2,
			wantErr: "etl: -stream needs -backend redis"},
		{name: "bad backend", args: []string{"-backend", "postgres"}, wantCode: 2,
			wantErr: `invalid value "postgres" for flag -backend: want memory or redis`},
		{name: "bad mode", args: []string{"-mode", "serve"}, wantCode: 2,
			wantErr: `invalid value "serve" for flag -mode: want run, worker or emit`},
		{name: "empty stream", args: onRedis(url, "-stream", ""), wantCode: 2,
			wantErr: "etl: -stream: must not be empty"},
		{name: "empty group", args: onRedis(url, "-group", ""), wantCode: 2,
			wantErr: "etl: -group: must not be empty"},
		{name: "empty consumer", args: onRedis(url, "-consumer", ""), wantCode: 2,
			wantErr: "etl: -consumer: must not be empty"},
		{name: "worker with input", args: onRedis(url, "-mode", "worker", "-input", "a.csv"), wantCode: 2,
			wantErr: "etl: -input is for -mode run and emit"},
		{name: "bad url scheme", args: onRedis("http://u:secret@localhost"), wantCode: 2,
			wantErr: "etl: -redis-url http://u:xxxxx@localhost: "},
		{name: "bad url port", args: onRedis("redis://u:secret@localhost:port"), wantCode: 2,
			wantErr: "etl: -redis-url redis://xxxxx@localhost:port: "},
		{name: "bad url from env", args: []string{"-backend", "redis"}, env: env("redis://u:secret@h:x/0"), wantCode: 2,
			wantErr: "etl: NECROSTACK_REDIS_URL redis://xxxxx@h:x/0: "},
		{name: "url from env", args: []string{"-backend", "redis", "-mode", "emit"}, env: env(url),
			wantOut: "to necrostack:etl\n"},
		{name: "flag over env", args: onRedis(url, "-mode", "emit", "-stream", "other"), env: env("redis://u:secret@127.0.0.1:1"),
			wantOut: "to other\n"},
		{name: "emit missing file", args: onRedis("redis://u:secret@127.0.0.1:1", "-mode", "emit", "-input", missing), wantCode: 1,
			wantErr: "etl: open " + missing + ": no such file or directory\n"},
		{name: "run missing file", args: onRedis("redis://u:secret@127.0.0.1:1", "-input", missing), wantCode: 1,
			wantErr: "etl: open " + missing + ": no such file or directory\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			getenv := tt.env
			if getenv == nil {
				getenv = noEnv
			}
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tt.args, getenv, &stdout, &stderr)
			if code != tt.wantCode {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, tt.wantCode, stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.wantErr) {
				t.Errorf("stderr lacks %q:\n%s", tt.wantErr, stderr.String())
			}
			if !strings.Contains(stdout.String(), tt.wantOut) {
				t.Errorf("stdout lacks %q:\n%s", tt.wantOut, stdout.String())
			}
			if strings.Contains(stderr.String(), "secret") {
				t.Errorf("stderr shows the password:\n%s", stderr.String())
			}
		})
	}
}
