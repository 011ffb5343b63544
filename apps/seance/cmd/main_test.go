package main

import (
	"context"
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/necrostack/necrostack/worker"
	"github.com/necrostack/necrostack/worker/workertest"
)

// TestMain fails the package if a test leaves a goroutine behind, such as
// a Spine that outlived its run. Like worker.Main, it silences go-redis's
// own logs. It removes the binary the tests built once they have run.
func TestMain(m *testing.M) {
	goredis.SetLogger(silentRedis{})
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		workertest.RemoveBuilds()
		os.Exit(code)
	}))
}

type silentRedis struct{}

func (silentRedis) Printf(context.Context, string, ...any) {}

// run runs the séance in this process, as main would, with args and an
// empty environment, and returns its exit code and output.
func run(ctx context.Context, args ...string) (code int, stdout, stderr string) {
	var out, errs workertest.Buffer
	code = worker.Run(ctx, app(), args, func(string) string { return "" }, &out, &errs)
	return code, out.String(), errs.String()
}

// runOK runs the séance and fails the test unless it exits 0.
func runOK(t *testing.T, args ...string) (stdout, stderr string) {
	t.Helper()
	code, stdout, stderr := run(context.Background(), args...)
	if code != worker.ExitOK {
		t.Fatalf("seance %q: exit %d, want 0; stdout:\n%s\nstderr:\n%s", args, code, stdout, stderr)
	}
	return stdout, stderr
}

// ritualLine matches the header of a printed ritual, with its séance id
// when it has one.
var ritualLine = regexp.MustCompile(`(?m)^Ritual (\d+)(?: \(séance ([\w-]+)\))? — (.+) asks: "(.*)"$`)

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
			wantStderr:    `"msg":"stopped"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			stdout, stderr := runOK(t, tt.args...)
			s := checkComplete(t, stdout, tt.seance, tt.rituals)
			if tt.wantQuestions != nil && strings.Join(s.questions, "\n") != strings.Join(tt.wantQuestions, "\n") {
				t.Errorf("questions asked:\n got  %q\n want %q", s.questions, tt.wantQuestions)
			}
			seeker := "Mina"
			if i := slices.Index(tt.args, "-seeker"); i >= 0 {
				seeker = tt.args[i+1]
			}
			header := "The candles are lit. " + seeker + " takes a seat at the table.\n\n"
			if tt.seance != "" {
				header = "The candles are lit (séance " + tt.seance + "). " + seeker + " takes a seat at the table.\n\n"
			}
			if !strings.HasPrefix(stdout, header) {
				t.Errorf("stdout starts %q, want %q", strings.SplitN(stdout, "\n", 2)[0], header)
			}
			if s.summary != tt.wantSummary {
				t.Errorf("summary: got %q, want %q", s.summary, tt.wantSummary)
			}
			if tt.wantStderr == "" && stderr != "" {
				t.Errorf("stderr: got %q, want nothing", stderr)
			}
			if !strings.Contains(stderr, tt.wantStderr) {
				t.Errorf("stderr: got %q, want it to contain %q", stderr, tt.wantStderr)
			}
		})
	}
}

func TestRunDeterministic(t *testing.T) {
	t.Parallel()
	first, _ := runOK(t, "-rituals", "6", "-seeker", "Renfield")
	second, _ := runOK(t, "-rituals", "6", "-seeker", "Renfield")
	if first != second {
		t.Errorf("two runs with the same flags differ:\n%s\n---\n%s", first, second)
	}
}

// The séance's own flags are checked, and refused where the mode has no use
// for them; the runtime's are its own business (worker's TestUsageErrors).
func TestRunBadFlags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		args       []string
		wantStderr string
	}{
		{"zero rituals", []string{"-rituals", "0"}, "seance: -rituals 0: must be at least 1\n"},
		{"negative rituals", []string{"-rituals", "-3"}, "-rituals -3: must be at least 1"},
		{"too many rituals", []string{"-rituals", "1000000"}, "-rituals 1000000: must be at most 100000"},
		{"not a number", []string{"-rituals", "many"}, `invalid value "many" for flag -rituals`},
		{"empty question", []string{"-question", "Why?", "-question", " "}, `-question " ": empty`},
		{"empty seeker", []string{"-seeker", ""}, `-seeker "": empty`},
		{"long question", []string{"-question", strings.Repeat("?", 281)}, "-question \"???"},
		{"question with a newline", []string{"-question", "why?\nwhy not?"}, "contains a control character"},
		{"bad séance id", []string{"-seance", "a b"}, `-seance "a b": only letters, digits`},
		{"long séance id", []string{"-backend", "redis", "-seance", strings.Repeat("x", 33)}, "-seance \"xxx"},
		{"empty séance id on redis", []string{"-backend", "redis", "-seance", ""}, `-seance "": empty`},
		{"rituals for a worker", []string{"-backend", "redis", "-mode", "worker", "-rituals", "3"}, "-rituals: not used by -mode worker"},
		{"question for a worker", []string{"-backend", "redis", "-mode", "worker", "-question", "Why?"}, "-question: not used by -mode worker"},
		{"seeker for a worker", []string{"-backend", "redis", "-mode", "worker", "-seeker", "Lucy"}, "-seeker: not used by -mode worker"},
		{"séance for a worker", []string{"-backend", "redis", "-mode", "worker", "-seance", "s"}, "-seance: not used by -mode worker"},
		{"rituals for redrive", []string{"-backend", "redis", "-mode", "redrive", "-rituals", "3"}, "-rituals: not used by -mode redrive"},
		{"séance for redrive", []string{"-backend", "redis", "-mode", "redrive", "-seance", "s"}, "-seance: not used by -mode redrive"},
		// Fault injection.
		{"unknown organ", []string{"-fail-organ", "Banshee", "-fail-every", "2"}, `-fail-organ "Banshee": must be one of Summoner, Medium, Oracle, Scribe`},
		{"organ name in lower case", []string{"-fail-organ", "oracle", "-fail-every", "2"}, `-fail-organ "oracle": must be one of`},
		{"fail-organ without fail-every", []string{"-fail-organ", "Oracle"}, "-fail-organ and -fail-every go together"},
		{"fail-every without fail-organ", []string{"-fail-every", "3"}, "-fail-organ and -fail-every go together"},
		{"fail-every 0", []string{"-fail-organ", "Oracle", "-fail-every", "0"}, "-fail-every 0: must be at least 1"},
		{"negative fail-every", []string{"-fail-organ", "Medium", "-fail-every", "-2"}, "-fail-every -2: must be at least 1"},
		{"fail-every not a number", []string{"-fail-organ", "Medium", "-fail-every", "often"}, `invalid value "often" for flag -fail-every`},
		{"fault for emit", []string{"-backend", "redis", "-mode", "emit", "-fail-organ", "Oracle", "-fail-every", "2"}, "-fail-every: not used by -mode emit"},
		{"fault for redrive", []string{"-backend", "redis", "-mode", "redrive", "-fail-organ", "Oracle", "-fail-every", "2"}, "-fail-every: not used by -mode redrive"},
		{"fail-organ for redrive", []string{"-backend", "redis", "-mode", "redrive", "-fail-organ", "Oracle"}, "-fail-organ: not used by -mode redrive"},
		// The runtime's, as the séance shows them, where worker's own
		// TestUsageErrors has no case yet.
		{"empty stream", []string{"-backend", "redis", "-stream", ""}, `invalid value "" for flag -stream: empty`},
		{"empty group", []string{"-backend", "redis", "-group", " "}, `invalid value " " for flag -group: empty`},
		{"bad redis url database", []string{"-backend", "redis", "-redis-url", "redis://:hunter2@localhost/zero"}, `-redis-url redis://:xxxxx@localhost/zero: redis: invalid database number: "zero"`},
		{"claim time 0", []string{"-backend", "redis", "-mode", "worker", "-claim-min-idle", "0s"}, `invalid value "0s" for flag -claim-min-idle: must be at least 1ms`},
		{"negative claim time", []string{"-backend", "redis", "-claim-min-idle", "-5s"}, `invalid value "-5s" for flag -claim-min-idle: must be at least 1ms`},
		{"claim time below a millisecond", []string{"-backend", "redis", "-mode", "worker", "-claim-min-idle", "500us"}, "must be at least 1ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := run(context.Background(), tt.args...)
			if code != worker.ExitUsage {
				t.Errorf("seance %q: exit %d, want %d", tt.args, code, worker.ExitUsage)
			}
			if !strings.Contains(stderr, tt.wantStderr) {
				t.Errorf("stderr: got %q, want it to contain %q", stderr, tt.wantStderr)
			}
			if stdout != "" {
				t.Errorf("stdout: got %q, want nothing", stdout)
			}
			if strings.Contains(stderr, "hunter2") {
				t.Errorf("stderr shows the password: %q", stderr)
			}
		})
	}
}

func TestRunHelp(t *testing.T) {
	t.Parallel()
	code, stdout, stderr := run(context.Background(), "-h")
	if code != worker.ExitOK || stdout != "" {
		t.Errorf("seance -h: exit %d, stdout %q; want 0 and nothing", code, stdout)
	}
	for _, want := range []string{"Holds a séance", "-question", "-seeker", "-rituals", "-seance", "-fail-organ", "-fail-every",
		"Summoner, Medium, Oracle, Scribe", "(default necrostack:seance)", "(default warn)", "-mode", "NECROSTACK_"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("usage does not mention %s:\n%s", want, stderr)
		}
	}
}

// A run stopped before its work is done fails, with its summary so far.
func TestRunInterrupted(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	code, stdout, stderr := run(ctx, "-rituals", "3")
	if code != worker.ExitFailed {
		t.Errorf("a run with a cancelled context: exit %d, want %d", code, worker.ExitFailed)
	}
	if s := parse(t, stdout); s.summary != "3 rituals, 0 omens" {
		t.Errorf("summary: got %q, want %q", s.summary, "3 rituals, 0 omens")
	}
	if want := "seance: interrupted"; !strings.Contains(stderr, want) {
		t.Errorf("stderr: got %q, want it to contain %q", stderr, want)
	}
}

// At debug, every organ call of the séance is logged as JSON with core's
// keys: four per ritual.
func TestRunDebugLogsAreJSON(t *testing.T) {
	t.Parallel()
	_, stderr := runOK(t, "-rituals", "2", "-log-level", "debug")
	handled := 0
	for line := range strings.Lines(stderr) {
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
	if want := 2 * app().StepsPerSeed; handled != want {
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
		if code != worker.ExitOK {
			t.Fatalf("seance: exit %d; stderr:\n%s", code, stderr)
		}
		s := checkComplete(t, stdout, "", 7)
		if want := "7 rituals, 7 omens"; s.summary != want {
			t.Errorf("summary: got %q, want %q", s.summary, want)
		}
		if !strings.Contains(stdout, "Quincey asks:") {
			t.Errorf("stdout does not name the seeker:\n%s", stdout)
		}
		if stderr != "" {
			t.Errorf("stderr: got %q, want nothing at the default level, warn", stderr)
		}
	})

	t.Run("bad flag", func(t *testing.T) {
		t.Parallel()
		stdout, stderr, code := workertest.Run(t.Context(), t, "seance", bin, "-rituals", "0")
		if code != worker.ExitUsage {
			t.Fatalf("seance -rituals 0: exit %d, want %d", code, worker.ExitUsage)
		}
		if want := "seance: -rituals 0: must be at least 1\n"; stderr != want {
			t.Errorf("stderr: got %q, want %q", stderr, want)
		}
		if stdout != "" {
			t.Errorf("stdout: got %q, want nothing", stdout)
		}
	})
}
