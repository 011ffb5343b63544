package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	goredis "github.com/redis/go-redis/v9"

	"github.com/necrostack/necrostack/apps/seance/organs"
	nsredis "github.com/necrostack/necrostack/backends/redis"
	"github.com/necrostack/necrostack/core"
	"github.com/necrostack/necrostack/worker/workertest"
)

// groupNames returns the consumer groups of a stream, none when it does not
// exist.
func groupNames(t *testing.T, rdb goredis.UniversalClient, stream string) []string {
	t.Helper()
	groups, err := rdb.XInfoGroups(context.Background(), stream).Result()
	if err != nil {
		if strings.Contains(err.Error(), "no such key") {
			return nil
		}
		t.Fatalf("XINFO GROUPS %s: %v", stream, err)
	}
	var names []string
	for _, g := range groups {
		names = append(names, g.Name)
	}
	slices.Sort(names)
	return names
}

// TestWorkerFaultThenRedrive is the poison scenario in process: a worker
// whose Oracle fails on every third ritual dead-letters rituals 3 and 6 for
// the Oracle after three attempts and completes the others; -mode redrive
// hands them back, and a worker without the fault completes them.
func TestWorkerFaultThenRedrive(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	mr := miniredis.RunT(t)
	url := "redis://" + mr.Addr()
	rdb := goredis.NewClient(&goredis.Options{Addr: mr.Addr()})
	defer rdb.Close()
	const rituals = 6
	emitOK(t, url, "-rituals", fmt.Sprint(rituals), "-seance", "poison")

	var sickOut, sickErr workertest.Buffer
	stopSick := startWorker(t, url, &sickOut, &sickErr, "-consumer", "sick", "-concurrency", "2",
		"-fail-organ", "Oracle", "-fail-every", "3")
	waitFor(t, 20*time.Second, "4 omens and 2 dead letters, nothing pending", func() bool {
		distinct, _ := parse(t, sickOut.String()).of("poison")
		dead, err1 := rdb.XLen(ctx, defaultStream+":dlq").Result()
		pending, err2 := rdb.XPending(ctx, defaultStream, nsredis.DefaultGroup).Result()
		return err1 == nil && err2 == nil && distinct == 4 && dead == 2 && pending.Count == 0
	})
	if code := stopSick(); code != exitOK {
		t.Errorf("sick worker exited %d, want %d; stderr:\n%s", code, exitOK, sickErr.String())
	}
	s := parse(t, sickOut.String())
	for n := 1; n <= rituals; n++ {
		want := 1
		if n%3 == 0 {
			want = 0
		}
		if got := s.rituals[ritualID{"poison", n}]; got != want {
			t.Errorf("with the fault: ritual %d printed %d times, want %d", n, got, want)
		}
	}
	dls, err := openTestBackend(t, url).DeadLetters(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	var deadRituals []int
	for _, dl := range dls {
		r, _ := organs.RitualOf(dl.Event)
		deadRituals = append(deadRituals, r.Number)
		wantErr := fmt.Sprintf("injected fault: Oracle fails on every 3rd ritual (ritual %d)", r.Number)
		if dl.Organ != "Oracle" || dl.Reason != core.ReasonHandlerFailed || dl.Attempts != core.DefaultMaxAttempts ||
			dl.Error != wantErr || dl.Event.Type() != organs.AnswerGenerated.Type() || r.Seance != "poison" {
			t.Errorf("dead letter: organ %q, reason %q, %d attempts, error %q, %s of ritual %d of %q; "+
				"want Oracle, %s, %d attempts, %q, %s of séance poison",
				dl.Organ, dl.Reason, dl.Attempts, dl.Error, dl.Event.Type(), r.Number, r.Seance,
				core.ReasonHandlerFailed, core.DefaultMaxAttempts, wantErr, organs.AnswerGenerated.Type())
		}
	}
	slices.Sort(deadRituals)
	if !slices.Equal(deadRituals, []int{3, 6}) {
		t.Errorf("dead letters for rituals %v, want [3 6]", deadRituals)
	}

	groups := groupNames(t, rdb, defaultStream)
	stdout, stderr := runOK(t, redisArgs(url, "-mode", "redrive")...)
	if want := "redrove 2 dead letters from necrostack:seance:dlq to necrostack:seance\n"; stdout != want {
		t.Errorf("redrive printed %q, want %q", stdout, want)
	}
	if stderr != "" {
		t.Errorf("redrive stderr: got %q, want nothing", stderr)
	}
	if n, err := rdb.XLen(ctx, defaultStream+":dlq").Result(); err != nil || n != 0 {
		t.Errorf("after the redrive: %d dead letters (%v), want 0", n, err)
	}
	if got := groupNames(t, rdb, defaultStream); !slices.Equal(got, groups) {
		t.Errorf("groups after the redrive: %v, want %v as before", got, groups)
	}

	var wellOut, wellErr workertest.Buffer
	stopWell := startWorker(t, url, &wellOut, &wellErr, "-consumer", "well")
	waitFor(t, 20*time.Second, "the omens of rituals 3 and 6", func() bool {
		distinct, _ := parse(t, wellOut.String()).of("poison")
		return distinct == 2
	})
	if code := stopWell(); code != exitOK {
		t.Errorf("well worker exited %d, want %d; stderr:\n%s", code, exitOK, wellErr.String())
	}
	if wellErr.String() != "" {
		t.Errorf("well worker stderr: got %q, want nothing", wellErr.String())
	}
	merged := parse(t, sickOut.String()+wellOut.String())
	checkSeance(t, merged, "poison", rituals)
	if merged.omens != rituals {
		t.Errorf("the workers printed %d omens, want %d", merged.omens, rituals)
	}
	checkDrained(t, rdb)
}

// seedDeadLetters adds dead letters to the dead-letter stream of stream: one
// holding a ritual's ANSWER_GENERATED per number, then malformed ones
// holding no event. It returns the events.
func seedDeadLetters(t *testing.T, url, stream string, numbers []int, malformed int) []core.Event {
	t.Helper()
	ctx := context.Background()
	b, err := nsredis.New(ctx, nsredis.Config{URL: url, Stream: stream, Mode: nsredis.ModeStream, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var events []core.Event
	for _, n := range numbers {
		e := organs.AnswerGenerated.MustNew(organs.Reply{Apparition: organs.Apparition{
			Ritual: organs.Ritual{Number: n, Seeker: "Mina", Question: "Is anyone there?", Seance: "old"},
			Spirit: organs.Spirit{Name: "Banquo", Epithet: "the Uninvited Guest"},
		}, Answer: "Soon."})
		dl := core.DeadLetter{Event: e, Organ: "Oracle", Reason: core.ReasonHandlerFailed, Error: "boom", Attempts: 3, Time: time.Now()}
		if err := b.DeadLetter(ctx, dl); err != nil {
			t.Fatal(err)
		}
		events = append(events, e)
	}
	for range malformed {
		err := b.Client().XAdd(ctx, &goredis.XAddArgs{Stream: stream + ":dlq", Values: []any{
			"reason", nsredis.ReasonMalformed, "error", "not JSON", "event", "boo!", "attempts", "1",
		}}).Err()
		if err != nil {
			t.Fatal(err)
		}
	}
	return events
}

func TestRedrive(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		args       []string
		stream     string
		numbers    []int // rituals of the redrivable dead letters
		malformed  int
		wantCode   int
		wantStdout string
		wantStderr []string // each a whole line; none means stderr must be empty
		wantLeft   int64
	}{
		{
			name:       "nothing to redrive",
			stream:     defaultStream,
			wantStdout: "redrove 0 dead letters from necrostack:seance:dlq to necrostack:seance\n",
		},
		{
			name:       "one, on another stream",
			args:       []string{"-stream", "vigil:events"},
			stream:     "vigil:events",
			numbers:    []int{4},
			wantStdout: "redrove 1 dead letter from vigil:events:dlq to vigil:events\n",
		},
		{
			name:       "many",
			stream:     defaultStream,
			numbers:    []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20},
			wantStdout: "redrove 20 dead letters from necrostack:seance:dlq to necrostack:seance\n",
		},
		{
			name:       "dead letters that hold no event",
			stream:     defaultStream,
			numbers:    []int{2, 9},
			malformed:  2,
			wantCode:   exitFail,
			wantStdout: "redrove 2 dead letters from necrostack:seance:dlq to necrostack:seance\n",
			wantStderr: []string{
				"seance: redis at redis://ADDR: redis: redrive ID: dead letter holds no valid event",
				"seance: redis at redis://ADDR: redis: redrive ID: dead letter holds no valid event",
				"seance: 2 dead letters left in necrostack:seance:dlq: they hold no event to hand back",
			},
			wantLeft: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			mr := miniredis.RunT(t)
			url := "redis://" + mr.Addr()
			rdb := goredis.NewClient(&goredis.Options{Addr: mr.Addr()})
			defer rdb.Close()
			events := seedDeadLetters(t, url, tt.stream, tt.numbers, tt.malformed)

			var stdout, stderr bytes.Buffer
			code := run(ctx, redisArgs(url, append([]string{"-mode", "redrive"}, tt.args...)...), noEnv, &stdout, &stderr)
			if code != tt.wantCode {
				t.Errorf("redrive = %d, want %d; stderr:\n%s", code, tt.wantCode, stderr.String())
			}
			if stdout.String() != tt.wantStdout {
				t.Errorf("stdout: got %q, want %q", stdout.String(), tt.wantStdout)
			}
			var lines []string
			for l := range strings.Lines(stderr.String()) {
				// Dead-letter ids vary.
				l = strings.TrimSuffix(strings.ReplaceAll(l, mr.Addr(), "ADDR"), "\n")
				if i := strings.Index(l, "redrive "); i >= 0 {
					if j := strings.Index(l[i:], ":"); j >= 0 {
						l = l[:i] + "redrive ID" + l[i+j:]
					}
				}
				lines = append(lines, l)
			}
			if !slices.Equal(lines, tt.wantStderr) {
				t.Errorf("stderr:\n got  %q\n want %q", lines, tt.wantStderr)
			}

			// The events are back in the stream, same ids; the others
			// stay dead; no group was made.
			msgs, err := rdb.XRange(ctx, tt.stream, "-", "+").Result()
			if err != nil {
				t.Fatal(err)
			}
			var got, want []string
			for _, m := range msgs {
				s, _ := m.Values["event"].(string)
				e, err := core.DecodeEvent([]byte(s))
				if err != nil {
					t.Errorf("stream entry %s: %v", m.ID, err)
				}
				got = append(got, e.ID())
			}
			for _, e := range events {
				want = append(want, e.ID())
			}
			if !slices.Equal(got, want) {
				t.Errorf("event ids in the stream: %v, want %v", got, want)
			}
			if n, err := rdb.XLen(ctx, tt.stream+":dlq").Result(); err != nil || n != tt.wantLeft {
				t.Errorf("dead letters left: %d (%v), want %d", n, err, tt.wantLeft)
			}
			if g := groupNames(t, rdb, tt.stream); len(g) > 0 {
				t.Errorf("redrive made consumer groups %v, want none", g)
			}
		})
	}
}

// TestClaimMinIdle checks -claim-min-idle reaches the backend: a worker
// reclaims an entry a dead consumer left pending once it has been idle that
// long, and not before.
func TestClaimMinIdle(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		args        []string
		want        time.Duration
		wantReclaim bool
	}{
		{"default", nil, nsredis.DefaultClaimMinIdle, false},
		{"200ms", []string{"-claim-min-idle", "200ms"}, 200 * time.Millisecond, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			cfg, err := parseFlags(append([]string{"-backend", "redis", "-mode", "worker"}, tt.args...), noEnv, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.redis.claimMinIdle != tt.want {
				t.Errorf("claim time: got %v, want %v", cfg.redis.claimMinIdle, tt.want)
			}

			mr := miniredis.RunT(t)
			url := "redis://" + mr.Addr()
			emitOK(t, url, "-rituals", "1", "-seance", "stuck")
			// A consumer that reads the summons and dies.
			ghost, err := nsredis.New(ctx, nsredis.Config{URL: url, Stream: defaultStream, Consumer: "ghost", Logger: discardLogger()})
			if err != nil {
				t.Fatal(err)
			}
			stuck, ok, err := ghost.Pull(ctx, time.Second)
			if !ok || err != nil {
				t.Fatalf("ghost pulled nothing (%v)", err)
			}
			_ = ghost.Close()

			var stdout, stderr workertest.Buffer
			stop := startWorker(t, url, &stdout, &stderr, append([]string{"-consumer", "medium", "-log-level", "info"}, tt.args...)...)
			done := func() bool { distinct, _ := parse(t, stdout.String()).of("stuck"); return distinct == 1 }
			if tt.wantReclaim {
				waitFor(t, 20*time.Second, "the reclaimed ritual's omen", done)
			} else {
				// A consumer checks for stuck entries at its first pull,
				// before its first read: once the worker has handled a
				// ritual emitted after it started, it has made that check,
				// and the ghost's entry must still be the ghost's.
				emitOK(t, url, "-rituals", "1", "-seance", "probe")
				waitFor(t, 20*time.Second, "the probe ritual's omen", func() bool {
					distinct, _ := parse(t, stdout.String()).of("probe")
					return distinct == 1
				})
				if done() {
					t.Errorf("the worker reclaimed the ghost's entry before the default claim time (%v)", nsredis.DefaultClaimMinIdle)
				}
				rdb := goredis.NewClient(&goredis.Options{Addr: mr.Addr()})
				defer rdb.Close()
				pending, err := rdb.XPendingExt(ctx, &goredis.XPendingExtArgs{
					Stream: defaultStream, Group: nsredis.DefaultGroup, Start: "-", End: "+", Count: 10,
				}).Result()
				if err != nil {
					t.Fatal(err)
				}
				if len(pending) != 1 || pending[0].ID != stuck.Receipt || pending[0].Consumer != "ghost" {
					t.Errorf("pending entries after the worker's reclaim check: %+v, want only %s, still the ghost's", pending, stuck.Receipt)
				}
			}
			if code := stop(); code != exitOK {
				t.Errorf("worker exited %d, want %d; stderr:\n%s", code, exitOK, stderr.String())
			}
			if want := fmt.Sprintf(`"claim_min_idle":%d`, tt.want); !strings.Contains(stderr.String(), want) {
				t.Errorf("the worker did not log %s:\n%s", want, stderr.String())
			}
			if got := strings.Contains(stderr.String(), `"from_consumer":"ghost"`); got != tt.wantReclaim {
				t.Errorf("reclaim from the ghost logged: %t, want %t:\n%s", got, tt.wantReclaim, stderr.String())
			}
		})
	}
}
