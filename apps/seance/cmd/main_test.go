package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	nsredis "github.com/necrostack/necrostack/backends/redis"
	"github.com/necrostack/necrostack/worker/workertest"
)

// TestMain fails the package if a test leaves a goroutine behind, such as
// a Spine that outlived its run. Like main, it silences go-redis's own logs.
// It removes the binary the tests built once they have run.
func TestMain(m *testing.M) {
	goredis.SetLogger(silentRedis{})
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		workertest.RemoveBuilds()
		os.Exit(code)
	}))
}

// ritualLine matches the header of a printed ritual, with its séance id
// when it has one.
var ritualLine = regexp.MustCompile(`(?m)^Ritual (\d+)(?: \(séance ([\w-]+)\))? — (.+) asks: "(.*)"$`)

// noEnv is an empty environment.
func noEnv(string) string { return "" }

// ritualID identifies a printed ritual: numbers restart in every séance.
type ritualID struct {
	seance string
	number int
}

// shape is what a séance printed: the omens per ritual, the questions asked
// in order, and the last line.
type shape struct {
	rituals   map[ritualID]int
	questions []string
	omens     int
	summary   string
}

func parse(t *testing.T, stdout string) shape {
	t.Helper()
	s := shape{rituals: map[ritualID]int{}}
	for _, m := range ritualLine.FindAllStringSubmatch(stdout, -1) {
		n, err := strconv.Atoi(m[1])
		if err != nil {
			t.Fatalf("ritual number %q: %v", m[1], err)
		}
		s.rituals[ritualID{m[2], n}]++
		s.questions = append(s.questions, m[4])
	}
	s.omens = strings.Count(stdout, "\n  Omen: ")
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	s.summary = lines[len(lines)-1]
	return s
}

// of returns how many rituals of the séance printed, and how many times in
// all.
func (s shape) of(seance string) (distinct, printed int) {
	for id, c := range s.rituals {
		if id.seance == seance {
			distinct++
			printed += c
		}
	}
	return distinct, printed
}

// checkComplete checks that rituals 1 to n of the séance each printed once,
// and nothing else printed.
func checkComplete(t *testing.T, stdout string, seance string, n int) shape {
	t.Helper()
	s := parse(t, stdout)
	if s.omens != n || len(s.rituals) != n {
		t.Errorf("printed %d omens for %d distinct rituals, want %d of each:\n%s", s.omens, len(s.rituals), n, stdout)
	}
	checkSeance(t, s, seance, n)
	return s
}

// checkSeance checks that rituals 1 to n of the séance each printed once.
func checkSeance(t *testing.T, s shape, seance string, n int) {
	t.Helper()
	for i := 1; i <= n; i++ {
		if c := s.rituals[ritualID{seance, i}]; c != 1 {
			t.Errorf("ritual %d of séance %q printed %d times, want once", i, seance, c)
		}
	}
	if distinct, _ := s.of(seance); distinct != n {
		t.Errorf("séance %q printed %d distinct rituals, want %d", seance, distinct, n)
	}
}

func TestRun(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		args          []string
		seance        string
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
			name:          "séance id",
			args:          []string{"-seance", "night-1", "-rituals", "2"},
			seance:        "night-1",
			rituals:       2,
			wantQuestions: defaultQuestions[:2],
			wantSummary:   "2 rituals, 2 omens",
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
			if code := run(context.Background(), tt.args, noEnv, &stdout, &stderr); code != exitOK {
				t.Fatalf("run(%q) = %d, want %d; stderr:\n%s", tt.args, code, exitOK, stderr.String())
			}
			s := checkComplete(t, stdout.String(), tt.seance, tt.rituals)
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
	if run(context.Background(), args, noEnv, &first, &bytes.Buffer{}) != exitOK ||
		run(context.Background(), args, noEnv, &second, &bytes.Buffer{}) != exitOK {
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
		{"unknown backend", []string{"-backend", "postgres"}, `invalid value "postgres" for flag -backend: must be memory or redis`},
		{"unknown mode", []string{"-mode", "daemon"}, `invalid value "daemon" for flag -mode: must be run, worker, emit or redrive`},
		{"worker on memory", []string{"-mode", "worker"}, "-mode worker: needs -backend redis"},
		{"emit on memory", []string{"-mode", "emit", "-backend", "memory"}, "-mode emit: needs -backend redis"},
		{"stream on memory", []string{"-stream", "s"}, "-stream: needs -backend redis"},
		{"redis url on memory", []string{"-redis-url", "redis://localhost"}, "-redis-url: needs -backend redis"},
		{"rituals for a worker", []string{"-backend", "redis", "-mode", "worker", "-rituals", "3"}, "-rituals: not used by -mode worker"},
		{"question for a worker", []string{"-backend", "redis", "-mode", "worker", "-question", "Why?"}, "-question: not used by -mode worker"},
		{"concurrency for emit", []string{"-backend", "redis", "-mode", "emit", "-concurrency", "2"}, "-concurrency: not used by -mode emit"},
		{"bad séance id", []string{"-seance", "a b"}, `-seance "a b": only letters, digits`},
		{"long séance id", []string{"-backend", "redis", "-seance", strings.Repeat("x", 33)}, "-seance"},
		{"empty séance id on redis", []string{"-backend", "redis", "-seance", ""}, `-seance "": empty`},
		{"empty stream", []string{"-backend", "redis", "-stream", ""}, `-stream "": empty`},
		{"empty group", []string{"-backend", "redis", "-group", " "}, `-group " ": empty`},
		{"bad redis url scheme", []string{"-backend", "redis", "-redis-url", "http://localhost"}, "-redis-url http://localhost: redis: invalid URL scheme: http"},
		{"bad redis url port", []string{"-backend", "redis", "-redis-url", "redis://user:hunter2@localhost:port"}, `-redis-url redis://xxxxx@localhost:port: invalid port ":port" after host`},
		{"bad redis url database", []string{"-backend", "redis", "-redis-url", "redis://:hunter2@localhost/zero"}, `-redis-url redis://:xxxxx@localhost/zero: redis: invalid database number: "zero"`},
		// Fault injection.
		{"unknown organ", []string{"-fail-organ", "Banshee", "-fail-every", "2"}, `invalid value "Banshee" for flag -fail-organ: must be Summoner, Medium, Oracle or Scribe`},
		{"organ name in lower case", []string{"-fail-organ", "oracle", "-fail-every", "2"}, `invalid value "oracle" for flag -fail-organ: must be Summoner, Medium, Oracle or Scribe`},
		{"fail-organ without fail-every", []string{"-fail-organ", "Oracle"}, "-fail-organ Oracle: needs -fail-every"},
		{"fail-every without fail-organ", []string{"-fail-every", "3"}, "-fail-every 3: needs -fail-organ"},
		{"fail-every 0", []string{"-fail-organ", "Oracle", "-fail-every", "0"}, "-fail-every 0: must be at least 1"},
		{"negative fail-every", []string{"-fail-organ", "Medium", "-fail-every", "-2"}, "-fail-every -2: must be at least 1"},
		{"fail-every not a number", []string{"-fail-organ", "Medium", "-fail-every", "often"}, `invalid value "often" for flag -fail-every`},
		{"fault for emit", []string{"-backend", "redis", "-mode", "emit", "-fail-organ", "Oracle", "-fail-every", "2"}, "-fail-every: not used by -mode emit"},
		{"fault for redrive", []string{"-backend", "redis", "-mode", "redrive", "-fail-organ", "Oracle"}, "-fail-organ: not used by -mode redrive"},
		// Redrive.
		{"redrive on memory", []string{"-mode", "redrive"}, "-mode redrive: needs -backend redis"},
		{"group for redrive", []string{"-backend", "redis", "-mode", "redrive", "-group", "g"}, "-group: not used by -mode redrive"},
		{"consumer for redrive", []string{"-backend", "redis", "-mode", "redrive", "-consumer", "c"}, "-consumer: not used by -mode redrive"},
		{"rituals for redrive", []string{"-backend", "redis", "-mode", "redrive", "-rituals", "3"}, "-rituals: not used by -mode redrive"},
		{"séance for redrive", []string{"-backend", "redis", "-mode", "redrive", "-seance", "s"}, "-seance: not used by -mode redrive"},
		{"concurrency for redrive", []string{"-backend", "redis", "-mode", "redrive", "-concurrency", "2"}, "-concurrency: not used by -mode redrive"},
		// Claim time.
		{"claim time on memory", []string{"-claim-min-idle", "5s"}, "-claim-min-idle: needs -backend redis"},
		{"claim time 0", []string{"-backend", "redis", "-mode", "worker", "-claim-min-idle", "0s"}, "-claim-min-idle 0s: must be more than 0"},
		{"negative claim time", []string{"-backend", "redis", "-claim-min-idle", "-5s"}, "-claim-min-idle -5s: must be more than 0"},
		{"claim time below a millisecond", []string{"-backend", "redis", "-mode", "worker", "-claim-min-idle", "500us"}, "-claim-min-idle 500µs: below Redis's 1ms resolution"},
		{"claim time not a duration", []string{"-backend", "redis", "-claim-min-idle", "5"}, `invalid value "5" for flag -claim-min-idle`},
		{"claim time for emit", []string{"-backend", "redis", "-mode", "emit", "-claim-min-idle", "5s"}, "-claim-min-idle: not used by -mode emit"},
		{"claim time for redrive", []string{"-backend", "redis", "-mode", "redrive", "-claim-min-idle", "5s"}, "-claim-min-idle: not used by -mode redrive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			if code := run(context.Background(), tt.args, noEnv, &stdout, &stderr); code != exitUsage {
				t.Errorf("run(%q) = %d, want %d", tt.args, code, exitUsage)
			}
			if !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Errorf("stderr: got %q, want it to contain %q", stderr.String(), tt.wantStderr)
			}
			if stdout.Len() > 0 {
				t.Errorf("stdout: got %q, want nothing", stdout.String())
			}
			if strings.Contains(stderr.String(), "hunter2") {
				t.Errorf("stderr shows the password: %q", stderr.String())
			}
		})
	}
}

func TestRedisURL(t *testing.T) {
	t.Parallel()
	env := func(url string) func(string) string {
		return func(name string) string {
			if name == envRedisURL {
				return url
			}
			return ""
		}
	}
	tests := []struct {
		name     string
		args     []string
		getenv   func(string) string
		wantAddr string
	}{
		{"default", nil, noEnv, "localhost:6379"},
		{"from the environment", nil, env("redis://cache:7000/1"), "cache:7000"},
		{"the flag wins", []string{"-redis-url", "redis://flag:7001"}, env("redis://cache:7000/1"), "flag:7001"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := parseFlags(append([]string{"-backend", "redis"}, tt.args...), tt.getenv, io.Discard)
			if err != nil {
				t.Fatalf("parseFlags: %v", err)
			}
			if got := cfg.redis.options.Addr; got != tt.wantAddr {
				t.Errorf("address: got %q, want %q", got, tt.wantAddr)
			}
			if cfg.redis.stream != defaultStream || cfg.redis.group != nsredis.DefaultGroup || cfg.redis.consumer != "" {
				t.Errorf("stream, group, consumer: got %q, %q, %q; want %q, %q, \"\"",
					cfg.redis.stream, cfg.redis.group, cfg.redis.consumer, defaultStream, nsredis.DefaultGroup)
			}
			if cfg.seance == "" {
				t.Errorf("no séance id on redis, want a random one")
			}
		})
	}
}

func TestRunHelp(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"-h"}, noEnv, &stdout, &stderr); code != exitOK {
		t.Errorf("run(-h) = %d, want %d", code, exitOK)
	}
	for _, flag := range []string{"-question", "-seeker", "-rituals", "-concurrency", "-log-level",
		"-mode", "-backend", "-redis-url", "-stream", "-group", "-consumer", "-seance", envRedisURL,
		"redrive", "-fail-organ", "-fail-every", "-claim-min-idle", "Summoner, Medium, Oracle, Scribe", "reclaims"} {
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
	if code := run(ctx, []string{"-rituals", "3"}, noEnv, &stdout, &stderr); code != exitFail {
		t.Errorf("run with a cancelled context = %d, want %d", code, exitFail)
	}
	if want := "seance: interrupted: 0 of 3 rituals"; !strings.Contains(stderr.String(), want) {
		t.Errorf("stderr: got %q, want it to contain %q", stderr.String(), want)
	}
}

func TestRunDebugLogsAreJSON(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"-rituals", "2", "-log-level", "debug"}, noEnv, &stdout, &stderr); code != exitOK {
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
			for _, key := range []string{"event_id", "event_type", "organ", "emitted", "duration_ms", "attempt"} {
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

// binary returns the command, built once for the package's tests, or skips
// the test with -short.
func binary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary; skipped with -short")
	}
	return workertest.Build(t, "seance", ".")
}

// TestBinary builds the real command and runs it as a user would.
func TestBinary(t *testing.T) {
	t.Parallel()
	bin := binary(t)

	t.Run("séance", func(t *testing.T) {
		t.Parallel()
		stdout, stderr, code := workertest.Run(t.Context(), t, "seance", bin, "-rituals", "7", "-concurrency", "3", "-seeker", "Quincey")
		if code != exitOK {
			t.Fatalf("seance: exit %d; stderr:\n%s", code, stderr)
		}
		s := checkComplete(t, stdout, "", 7)
		if want := "7 rituals, 7 omens"; s.summary != want {
			t.Errorf("summary: got %q, want %q", s.summary, want)
		}
		if !strings.Contains(stdout, "Quincey asks:") {
			t.Errorf("stdout does not name the seeker:\n%s", stdout)
		}
	})

	t.Run("bad flag", func(t *testing.T) {
		t.Parallel()
		stdout, stderr, code := workertest.Run(t.Context(), t, "seance", bin, "-rituals", "0")
		if code != exitUsage {
			t.Fatalf("seance -rituals 0: exit %d, want %d", code, exitUsage)
		}
		if want := "-rituals 0: must be at least 1"; !strings.Contains(stderr, want) {
			t.Errorf("stderr: got %q, want it to contain %q", stderr, want)
		}
		if stdout != "" {
			t.Errorf("stdout: got %q, want nothing", stdout)
		}
	})
}
