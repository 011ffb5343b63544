package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/necrostack/necrostack/worker"
)

func TestRunSample(t *testing.T) {
	t.Parallel()
	code, stdout, stderr := runCmd(context.Background())
	if code != worker.ExitOK {
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
	if code != worker.ExitOK {
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

// The logs are JSON, at the level asked for, with the organs' dispatch at
// debug and each report at info.
func TestRunLogLevel(t *testing.T) {
	t.Parallel()
	code, _, stderr := runCmd(context.Background(), "-log-level", "DEBUG")
	if code != worker.ExitOK {
		t.Fatalf("exit %d, want 0; stderr:\n%s", code, stderr)
	}
	for _, l := range strings.Split(strings.TrimSpace(stderr), "\n") {
		if !json.Valid([]byte(l)) {
			t.Errorf("log line is not JSON: %s", l)
		}
	}
	for _, s := range []string{`"organ":"Reporter"`, `"msg":"report written","job_id":"`} {
		if !strings.Contains(stderr, s) {
			t.Errorf("debug logs lack %s:\n%s", s, stderr)
		}
	}
}

// A job that fails exits 1, with one line of its own saying why, after the
// logs: a file refused before the job is enqueued, or the job's dead letter.
func TestRunFailures(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.csv")
	noValid := writeCSV(t, noValidCSV)
	badHeader := writeCSV(t, "when,where,who\n")
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()

	tests := []struct {
		name     string
		ctx      context.Context
		args     []string
		wantLast string // the last line of stderr
	}{
		{name: "missing file", args: []string{"-input", missing},
			wantLast: "etl: open " + missing + ": no such file or directory"},
		{name: "directory", args: []string{"-input", dir},
			wantLast: "etl: " + dir + " is a directory, want a CSV file"},
		{name: "no valid rows", args: []string{"-input", noValid},
			wantLast: noValidError(noValid)},
		{name: "bad header", args: []string{"-input", badHeader},
			wantLast: "etl: Extractor: extract " + badHeader + ": bad header: missing columns date, location, spirit, sightings, intensity (header has when, where, who)"},
		{name: "interrupted", ctx: cancelled,
			wantLast: "etl: interrupted before the work was done"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := tt.ctx
			if ctx == nil {
				ctx = context.Background()
			}
			code, stdout, stderr := runCmd(ctx, tt.args...)
			if code != worker.ExitFailed {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, worker.ExitFailed, stderr)
			}
			if last := lastLine(stderr); last != tt.wantLast || strings.Count(stderr, "etl: ") != 1 {
				t.Errorf("stderr:\n%s\nwant one etl: line, the last: %q", stderr, tt.wantLast)
			}
			if stdout != "" {
				t.Errorf("stdout = %q, want nothing", stdout)
			}
		})
	}
}

const tinyCSV = "date,location,spirit,sightings,intensity\n" +
	"2024-10-31,Crypt,Banshee,3,9.5\n" +
	"2024-11-02,Belfry,Banshee,2,6\n"

const noValidCSV = "date,location,spirit,sightings,intensity\n" +
	"2024-02-30,Crypt,Banshee,1,1\n" +
	"2024-10-31,Crypt,Banshee,lots,1\n"

func noValidError(path string) string {
	return "etl: Cleaner: no valid rows in " + path + " (2 rows dropped: bad_date 1, not_a_number 1)"
}
