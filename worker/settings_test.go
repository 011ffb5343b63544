package worker_test

import (
	"context"
	"flag"
	"strings"
	"testing"

	"github.com/necrostack/necrostack/worker"
)

// Bad flags and variables are usage errors (exit 2) that name the flag or
// the variable, say what is wrong, and never show a password; flags that
// would have no effect are refused.
func TestUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"unknown flag", nil, []string{"-nope"}, "flag provided but not defined: -nope"},
		{"bad mode", nil, []string{"-mode", "dance"}, `invalid value "dance" for flag -mode: must be run, worker, emit or redrive`},
		{"bad backend", nil, []string{"-backend", "disk"}, "must be memory or redis"},
		{"bad concurrency", nil, []string{"-concurrency", "0"}, `invalid value "0" for flag -concurrency: must be at least 1`},
		{"bad duration", nil, []string{"-backend", "redis", "-claim-min-idle", "soon"}, "not a duration"},
		{"bad log level", nil, []string{"-log-level", "loud"}, "must be debug, info, warn or error"},
		{"bad listen", nil, []string{"-listen", "9464"}, "must be host:port or :port"},
		{"bad URL scheme", nil, []string{"-backend", "redis", "-redis-url", "http://u:s3cret@h:1"}, "-redis-url http://u:xxxxx@h:1: must start with redis:// or rediss://"},
		{"bad URL port", nil, []string{"-backend", "redis", "-redis-url", "redis://u:s3cret@h:port"}, `invalid port ":port"`},
		{"bad variable", map[string]string{"NECROSTACK_CONCURRENCY": "many"}, nil, `$NECROSTACK_CONCURRENCY "many": not a whole number`},
		{"bad URL variable", map[string]string{"NECROSTACK_REDIS_URL": "redis://u:s3cret@h:port"}, nil, "$NECROSTACK_REDIS_URL redis://xxxxx@h:port: invalid port"},
		{"positional argument", nil, []string{"extra"}, `unexpected argument "extra"`},
		{"worker on memory", nil, []string{"-mode", "worker"}, "-mode worker: needs -backend redis"},
		{"redis flag on memory", nil, []string{"-mode", "run", "-stream", "s"}, "-stream: needs -backend redis"},
		{"handling flag with emit", nil, []string{"-backend", "redis", "-mode", "emit", "-concurrency", "2"}, "-concurrency: not used by -mode emit"},
		{"group with redrive", nil, []string{"-backend", "redis", "-mode", "redrive", "-group", "g"}, "-group: not used by -mode redrive"},
		{"input with worker", nil, []string{"-backend", "redis", "-mode", "worker", "-input", "f"}, "-input: not used by -mode worker"},
		{"no partitions", nil, []string{"-backend", "redis", "-mode", "worker", "-partitions", "0"}, `invalid value "0" for flag -partitions: must be at least 1`},
		{"too many partitions", nil, []string{"-backend", "redis", "-mode", "worker", "-partitions", "1025"}, "must be at most 1024"},
		{"partitions in a run", nil, []string{"-backend", "redis", "-mode", "run", "-partitions", "4"}, "-partitions: not used by -mode run"},
		{"ordered emit", nil, []string{"-backend", "redis", "-mode", "emit", "-ordered"}, "-ordered: not used by -mode emit"},
		{"bad ordered", nil, []string{"-backend", "redis", "-mode", "worker", "-ordered=maybe"}, "must be true or false"},
		{"bad wait-replicas", nil, []string{"-backend", "redis", "-mode", "worker", "-wait-replicas", "-1"}, "must be a whole number, 0 or more"},
		{"lease without ordered", nil, []string{"-backend", "redis", "-mode", "worker", "-lease-ttl", "5s"}, "-lease-ttl: needs -ordered"},
		{"lease too short", nil, []string{"-backend", "redis", "-mode", "worker", "-ordered", "-lease-ttl", "1s"}, `invalid value "1s" for flag -lease-ttl: must be above 2s`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &chain{}
			code, stdout, stderr := run(context.Background(), c.app(), tt.env, tt.args...)
			if code != worker.ExitUsage {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, worker.ExitUsage, stderr)
			}
			if !strings.Contains(stderr, tt.want) {
				t.Errorf("stderr:\n%s\nwant it to say %q", stderr, tt.want)
			}
			if strings.Contains(stderr, "s3cret") {
				t.Errorf("stderr shows the password:\n%s", stderr)
			}
			if stdout != "" || c.pings.Load() != 0 {
				t.Errorf("a usage error ran something: stdout %q, %d pings", stdout, c.pings.Load())
			}
		})
	}
}

// The app's Check sees the mode and the flags given, and its error is a
// usage error; -h prints the usage and exits 0.
func TestAppFlagsAndHelp(t *testing.T) {
	var rituals int
	app := (&chain{seeds: 1}).app()
	app.Summary = "Pings and pongs."
	app.Flags = func(fs *flag.FlagSet) { fs.IntVar(&rituals, "rituals", 1, "how many") }
	app.FlagModes = map[string][]worker.Mode{"rituals": {worker.ModeRun, worker.ModeEmit}}
	app.Check = func(p *worker.Process) error {
		if rituals < 1 {
			return errUsage("-rituals: must be at least 1")
		}
		return nil
	}
	code, _, stderr := run(context.Background(), app, nil, "-backend", "redis", "-mode", "worker", "-rituals", "3")
	if code != worker.ExitUsage || !strings.Contains(stderr, "chain: -rituals: not used by -mode worker") {
		t.Errorf("exit %d, stderr %q: want the flag refused in a mode it has no use in", code, stderr)
	}
	code, _, stderr = run(context.Background(), app, nil, "-rituals", "0")
	if code != worker.ExitUsage || !strings.Contains(stderr, "chain: -rituals: must be at least 1") {
		t.Errorf("exit %d, stderr %q: want the app's usage error", code, stderr)
	}
	code, _, stderr = run(context.Background(), app, nil, "-h")
	if code != worker.ExitOK || !strings.Contains(stderr, "Pings and pongs.") || !strings.Contains(stderr, "-rituals") ||
		!strings.Contains(stderr, "NECROSTACK_") || !strings.Contains(stderr, "(default chain:events)") {
		t.Errorf("-h: exit %d, usage:\n%s", code, stderr)
	}
}

type errUsage string

func (e errUsage) Error() string { return string(e) }

// Variables set what flags do not; a flag wins over its variable.
func TestEnvironment(t *testing.T) {
	c := &chain{seeds: 2}
	var got worker.Settings
	app := c.app()
	app.Begin = func(p *worker.Process) { got = p.Settings }
	env := map[string]string{"NECROSTACK_CONCURRENCY": "3", "NECROSTACK_LOG_LEVEL": "debug", "NECROSTACK_LOG_FORMAT": "text"}
	code, _, stderr := run(context.Background(), app, env, "-concurrency", "2")
	if code != worker.ExitOK {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr)
	}
	if got.Concurrency != 2 || got.LogFormat != "text" || got.LogLevel.String() != "DEBUG" {
		t.Errorf("settings %+v: want concurrency 2 (the flag), text logs at debug (the variables)", got)
	}
	if !strings.Contains(stderr, "level=DEBUG") {
		t.Errorf("stderr is not text at debug:\n%s", stderr)
	}
}
