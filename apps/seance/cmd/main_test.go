package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

var ritualLine = regexp.MustCompile(`(?m)^Ritual (\d+) — (.+) asks: "(.*)"$`)

// shape is what a séance printed: the omens per ritual number, the
// questions asked in order, and the last line.
type shape struct {
	rituals   map[int]int
	questions []string
	omens     int
	summary   string
}

func parse(t *testing.T, stdout string) shape {
	t.Helper()
	s := shape{rituals: map[int]int{}}
	for _, m := range ritualLine.FindAllStringSubmatch(stdout, -1) {
		n, err := strconv.Atoi(m[1])
		if err != nil {
			t.Fatalf("ritual number %q: %v", m[1], err)
		}
		s.rituals[n]++
		s.questions = append(s.questions, m[3])
	}
	s.omens = strings.Count(stdout, "\n  Omen: ")
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	s.summary = lines[len(lines)-1]
	return s
}

func checkComplete(t *testing.T, stdout string, rituals int) shape {
	t.Helper()
	s := parse(t, stdout)
	if s.omens != rituals || len(s.rituals) != rituals {
		t.Errorf("printed %d omens for %d distinct rituals, want %d of each:\n%s", s.omens, len(s.rituals), rituals, stdout)
	}
	for n := 1; n <= rituals; n++ {
		if s.rituals[n] != 1 {
			t.Errorf("ritual %d printed %d times, want once", n, s.rituals[n])
		}
	}
	return s
}

func TestRun(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		args          []string
		rituals       int
		wantQuestions []string // in order; nil to skip (concurrent runs reorder)
		wantSummary   string
		wantStderr    string // a substring; "" means stderr must be empty
	}{
		{
			name:          "defaults",
			rituals:       3,
			wantQuestions: defaultQuestions,
			wantSummary:   "3 rituals, 3 omens",
		},
		{
			name:          "rituals cycle through the questions",
			args:          []string{"-question", "Is it you, Father?", "-question", "Shall I sail in spring?", "-rituals", "5", "-seeker", "Lucy"},
			rituals:       5,
			wantQuestions: []string{"Is it you, Father?", "Shall I sail in spring?", "Is it you, Father?", "Shall I sail in spring?", "Is it you, Father?"},
			wantSummary:   "5 rituals, 5 omens",
		},
		{
			name:          "one ritual",
			args:          []string{"-question", "Is anyone there?"},
			rituals:       1,
			wantQuestions: []string{"Is anyone there?"},
			wantSummary:   "1 ritual, 1 omen",
		},
		{
			name:        "concurrent",
			args:        []string{"-rituals", "40", "-concurrency", "8"},
			rituals:     40,
			wantSummary: "40 rituals, 40 omens",
		},
		{
			name:          "info logs",
			args:          []string{"-log-level", "INFO", "-rituals", "2"},
			rituals:       2,
			wantQuestions: defaultQuestions[:2],
			wantSummary:   "2 rituals, 2 omens",
			wantStderr:    `"msg":"séance ends"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			if code := run(context.Background(), tt.args, &stdout, &stderr); code != exitOK {
				t.Fatalf("run(%q) = %d, want %d; stderr:\n%s", tt.args, code, exitOK, stderr.String())
			}
			s := checkComplete(t, stdout.String(), tt.rituals)
			if tt.wantQuestions != nil && strings.Join(s.questions, "\n") != strings.Join(tt.wantQuestions, "\n") {
				t.Errorf("questions asked:\n got  %q\n want %q", s.questions, tt.wantQuestions)
			}
			if s.summary != tt.wantSummary {
				t.Errorf("summary: got %q, want %q", s.summary, tt.wantSummary)
			}
			if tt.wantStderr == "" && stderr.Len() > 0 {
				t.Errorf("stderr: got %q, want nothing", stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Errorf("stderr: got %q, want it to contain %q", stderr.String(), tt.wantStderr)
			}
		})
	}
}

func TestRunDeterministic(t *testing.T) {
	t.Parallel()
	var first, second bytes.Buffer
	args := []string{"-rituals", "6", "-seeker", "Renfield"}
	if run(context.Background(), args, &first, &bytes.Buffer{}) != exitOK ||
		run(context.Background(), args, &second, &bytes.Buffer{}) != exitOK {
		t.Fatal("run failed")
	}
	if first.String() != second.String() {
		t.Errorf("two runs with the same flags differ:\n%s\n---\n%s", first.String(), second.String())
	}
}

func TestRunBadFlags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		args       []string
		wantStderr string
	}{
		{"zero rituals", []string{"-rituals", "0"}, "-rituals 0: must be at least 1"},
		{"negative rituals", []string{"-rituals", "-3"}, "-rituals -3"},
		{"too many rituals", []string{"-rituals", "1000000"}, "-rituals 1000000: must be at most"},
		{"zero concurrency", []string{"-concurrency", "0"}, "-concurrency 0: must be at least 1"},
		{"unknown log level", []string{"-log-level", "loud"}, `invalid value "loud" for flag -log-level`},
		{"unknown flag", []string{"-volume", "11"}, "flag provided but not defined: -volume"},
		{"not a number", []string{"-rituals", "many"}, `invalid value "many" for flag -rituals`},
		{"empty question", []string{"-question", "Why?", "-question", " "}, `-question " ": empty`},
		{"empty seeker", []string{"-seeker", ""}, `-seeker "": empty`},
		{"long question", []string{"-question", strings.Repeat("?", 281)}, "-question"},
		{"stray argument", []string{"hello?"}, `unexpected argument "hello?"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			if code := run(context.Background(), tt.args, &stdout, &stderr); code != exitUsage {
				t.Errorf("run(%q) = %d, want %d", tt.args, code, exitUsage)
			}
			if !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Errorf("stderr: got %q, want it to contain %q", stderr.String(), tt.wantStderr)
			}
			if stdout.Len() > 0 {
				t.Errorf("stdout: got %q, want nothing", stdout.String())
			}
		})
	}
}

func TestRunHelp(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"-h"}, &stdout, &stderr); code != exitOK {
		t.Errorf("run(-h) = %d, want %d", code, exitOK)
	}
	for _, flag := range []string{"-question", "-seeker", "-rituals", "-concurrency", "-log-level"} {
		if !strings.Contains(stderr.String(), flag) {
			t.Errorf("usage does not mention %s:\n%s", flag, stderr.String())
		}
	}
}

func TestRunInterrupted(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var stdout, stderr bytes.Buffer
	if code := run(ctx, []string{"-rituals", "3"}, &stdout, &stderr); code != exitFail {
		t.Errorf("run with a cancelled context = %d, want %d", code, exitFail)
	}
	if want := "seance: interrupted: 0 of 3 rituals"; !strings.Contains(stderr.String(), want) {
		t.Errorf("stderr: got %q, want it to contain %q", stderr.String(), want)
	}
}

func TestRunDebugLogsAreJSON(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"-rituals", "2", "-log-level", "debug"}, &stdout, &stderr); code != exitOK {
		t.Fatalf("run = %d, want %d; stderr:\n%s", code, exitOK, stderr.String())
	}
	handled := 0
	for line := range strings.Lines(stderr.String()) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("stderr line is not JSON: %q: %v", line, err)
		}
		if rec["msg"] == "handled" {
			handled++
			for _, key := range []string{"event_id", "event_type", "organ", "emitted", "duration", "attempt"} {
				if _, ok := rec[key]; !ok {
					t.Errorf("handled log line has no %q: %s", key, line)
				}
			}
		}
	}
	if want := 2 * stepsPerRitual; handled != want {
		t.Errorf("%d \"handled\" log lines, want %d", handled, want)
	}
}

func TestAudit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		n       int
		omens   map[int]int
		wantErr string // "" for none
	}{
		{"complete", 3, map[int]int{1: 1, 2: 1, 3: 1}, ""},
		{"missing", 3, map[int]int{1: 1}, "no omen for rituals [2 3]"},
		{"repeated", 2, map[int]int{1: 1, 2: 2}, "more than one omen for rituals [2]"},
		{"stray", 1, map[int]int{1: 1, 7: 1, 0: 1}, "omens for unknown rituals [0 7]"},
		{"nothing", 1, nil, "no omen for rituals [1]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := audit(tt.n, tt.omens)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("audit(%d, %v) = %q, want nil", tt.n, tt.omens, err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("audit(%d, %v) = %v, want an error containing %q", tt.n, tt.omens, err, tt.wantErr)
			}
		})
	}
}

// TestBinary builds the real command and runs it as a user would.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary; skipped with -short")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "seance")
	if out, err := exec.Command(gobin, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	t.Run("séance", func(t *testing.T) {
		t.Parallel()
		var stdout, stderr bytes.Buffer
		cmd := exec.Command(bin, "-rituals", "7", "-concurrency", "3", "-seeker", "Quincey")
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("%s: %v; stderr:\n%s", cmd, err, stderr.String())
		}
		s := checkComplete(t, stdout.String(), 7)
		if want := "7 rituals, 7 omens"; s.summary != want {
			t.Errorf("summary: got %q, want %q", s.summary, want)
		}
		if !strings.Contains(stdout.String(), "Quincey asks:") {
			t.Errorf("stdout does not name the seeker:\n%s", stdout.String())
		}
	})

	t.Run("bad flag", func(t *testing.T) {
		t.Parallel()
		var stdout, stderr bytes.Buffer
		cmd := exec.Command(bin, "-rituals", "0")
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		exitErr, ok := errors.AsType[*exec.ExitError](err)
		if !ok || exitErr.ExitCode() != exitUsage {
			t.Fatalf("%s: got %v, want exit status %d", cmd, err, exitUsage)
		}
		if want := "-rituals 0: must be at least 1"; !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr: got %q, want it to contain %q", stderr.String(), want)
		}
		if stdout.Len() > 0 {
			t.Errorf("stdout: got %q, want nothing", stdout.String())
		}
	})
}
