package e2e_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/necrostack/necrostack/e2e/redisenv"
)

// Scenario 5. An organ that always fails for some inputs: workers whose
// Oracle fails for every tenth ritual. Each of those rituals is retried in
// process, then dead-lettered for the Oracle with the error and the number
// of attempts; every other ritual completes. Once the fault is fixed (new
// workers without it), a redrive hands the dead letters back to the stream
// and they complete too: every ritual then has exactly one omen.
func TestPoison(t *testing.T) {
	t.Parallel()
	ctx := scenario(t, 2*time.Minute)
	const rituals, every, attempts = 200, 10, 3 // attempts: the Spine's default

	r := redisenv.Start(t, redisenv.Config{})
	f := newFleet(t, "seance", r, "e2e:seance")
	rdb := f.rdb
	fault := []string{"-fail-organ", "Oracle", "-fail-every", fmt.Sprint(every)}
	sick1, sick2 := f.worker("sick-1", fault...), f.worker("sick-2", fault...)
	f.emitSeance(ctx, "poison", rituals)

	poisoned := make(map[int]bool)
	for n := every; n <= rituals; n += every {
		poisoned[n] = true
	}
	waitFor(ctx, t, "the healthy rituals and the dead letters", func() (bool, string) {
		f.alive()
		done := countDone(omens("poison", sick1, sick2), rituals)
		n := dlqLen(ctx, t, rdb, f.stream)
		ok, st := drained(ctx, rdb, f.stream)
		return done == rituals-len(poisoned) && n == int64(len(poisoned)) && ok,
			fmt.Sprintf("%d/%d omens, %d/%d dead letters; group: %s", done, rituals-len(poisoned), n, len(poisoned), st)
	})
	f.stop()

	got := omens("poison", sick1, sick2)
	for n := 1; n <= rituals; n++ {
		want := 1
		if poisoned[n] {
			want = 0
		}
		if got[n] != want {
			t.Errorf("with the fault: ritual %d printed %d omens, want %d", n, got[n], want)
		}
	}
	dls := deadLetters(ctx, t, rdb, f.stream)
	if len(dls) > 0 {
		t.Logf("a dead letter: organ %s, reason %s, %d attempts, error %q", dls[0].Organ, dls[0].Reason, dls[0].Attempts, dls[0].Error)
	}
	for _, dl := range dls {
		var e struct {
			Type    string `json:"event_type"`
			Payload struct {
				Number int    `json:"number"`
				Seance string `json:"seance"`
			} `json:"payload"`
		}
		_ = json.Unmarshal([]byte(dl.Event), &e)
		if dl.Organ != "Oracle" || dl.Reason != "handler_failed" || dl.Attempts != attempts || dl.Error == "" ||
			e.Type != "ANSWER_GENERATED" || e.Payload.Seance != "poison" || !poisoned[e.Payload.Number] {
			t.Errorf("dead letter %s: organ %q, reason %q, %d attempts, error %q, for %s of ritual %d of %q; "+
				"want organ Oracle, handler_failed, %d attempts, an error, for ANSWER_GENERATED of a tenth ritual of \"poison\"",
				dl.ID, dl.Organ, dl.Reason, dl.Attempts, dl.Error, e.Type, e.Payload.Number, e.Payload.Seance, attempts)
		}
	}

	// The fix: workers without the fault, and a redrive.
	well1, well2 := f.worker("well-1"), f.worker("well-2")
	out := f.run(ctx, "redrive")
	t.Logf("seance -mode redrive: %s", strings.TrimSpace(out))
	if want := fmt.Sprintf("redrove %d dead letters from %s:dlq to %s", len(poisoned), f.stream, f.stream); strings.TrimSpace(out) != want {
		t.Errorf("seance -mode redrive printed %q, want %q", out, want)
	}
	waitFor(ctx, t, "the redriven rituals", func() (bool, string) {
		f.alive()
		done := countDone(omens("poison", sick1, sick2, well1, well2), rituals)
		n := dlqLen(ctx, t, rdb, f.stream)
		ok, st := drained(ctx, rdb, f.stream)
		return done == rituals && n == 0 && ok, fmt.Sprintf("%d/%d omens, %d dead letters left; group: %s", done, rituals, n, st)
	})
	f.stop()

	problems, _ := omenProblems(omens("poison", sick1, sick2, well1, well2), rituals, false)
	reportProblems(t, "omens after the redrive", problems)
	// A redriven event is a new entry holding the same event: the
	// poisoned rituals' ANSWER_GENERATED is in two entries, all else in one.
	c := takeCensus(ctx, t, rdb, f.stream)
	reportProblems(t, "stream", c.exactlyOnce(ritualKeys("poison", rituals), seanceTypes, true))
	for n := 1; n <= rituals; n++ {
		for _, typ := range seanceTypes {
			want := 1
			if poisoned[n] && typ == "ANSWER_GENERATED" {
				want = 2
			}
			if tl := c[ritualKey("poison", n)][typ]; tl != nil && tl.entries != want {
				t.Errorf("ritual %d: %s in %d entries, want %d", n, typ, tl.entries, want)
			}
		}
	}
	checkDrained(ctx, t, rdb, f.stream)
}
