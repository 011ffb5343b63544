package e2e_test

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/necrostack/necrostack/e2e/redisenv"
)

// garbage is an entry written straight to the stream, bypassing Enqueue,
// and what the dead-letter stream must say about it.
type garbage struct {
	name   string
	values []any // the entry's fields and values
	reason string
	organ  string // for the dead letters the Spine writes
	errHas string // a part of the dead letter's error
}

// Scenario 6. Entries that are not events, written straight to the stream
// between two séances: not JSON, unknown fields, no type, an invalid type
// or id, a payload that is not an object, trailing data, an entry without
// the event field or with extra fields, an oversized entry (over the
// backend's 1 MiB), and two valid events no organ can serve (an unknown
// type, an invalid ritual). Each is dead-lettered once with its reason and
// acknowledged; none stops a worker, and both séances complete.
func TestGarbage(t *testing.T) {
	t.Parallel()
	ctx := scenario(t, 2*time.Minute)
	r := redisenv.Start(t, redisenv.Config{})
	const rituals = 200
	f := newFleet(t, "seance", r, "e2e:seance")
	rdb := f.rdb
	w1, w2 := f.worker("medium-1"), f.worker("medium-2")
	f.emitSeance(ctx, "clean-1", rituals)

	valid := func(typ string, payload any) map[string]any {
		return map[string]any{"id": newUUID(), "timestamp": time.Now().UTC().Format(time.RFC3339Nano), "event_type": typ, "payload": payload}
	}
	ritual := map[string]any{"number": 1, "seeker": "Mina", "question": "Is anyone there?", "seance": "garbage"}
	badRitual := map[string]any{"number": 2, "seeker": "Mina", "question": "", "seance": "garbage"}
	with := func(m map[string]any, k string, v any) map[string]any { m[k] = v; return m }
	without := func(m map[string]any, k string) map[string]any { delete(m, k); return m }
	asJSON := func(v any) string { b, _ := json.Marshal(v); return string(b) }
	const malformed, oversized = "malformed_entry", "oversized_entry"
	junk := []garbage{
		{name: "not JSON", values: []any{"event", "the spirits are restless"}, reason: malformed, errHas: "JSON"},
		{name: "unknown field", values: []any{"event", asJSON(with(valid("SUMMON_RITUAL", ritual), "curse", "yes"))}, reason: malformed, errHas: "curse"},
		{name: "no type", values: []any{"event", asJSON(without(valid("SUMMON_RITUAL", ritual), "event_type"))}, reason: malformed, errHas: "event_type"},
		{name: "invalid type", values: []any{"event", asJSON(valid("summon ritual", ritual))}, reason: malformed, errHas: "event_type"},
		{name: "invalid id", values: []any{"event", asJSON(with(valid("SUMMON_RITUAL", ritual), "id", "not-a-uuid"))}, reason: malformed, errHas: "id"},
		{name: "payload not an object", values: []any{"event", asJSON(valid("SUMMON_RITUAL", []int{1, 2}))}, reason: malformed, errHas: "payload"},
		{name: "trailing data", values: []any{"event", asJSON(valid("SUMMON_RITUAL", ritual)) + ` {"again":1}`}, reason: malformed, errHas: "trailing"},
		{name: "no event field", values: []any{"evnt", asJSON(valid("SUMMON_RITUAL", ritual))}, reason: malformed, errHas: "event"},
		{name: "extra field", values: []any{"event", asJSON(valid("SUMMON_RITUAL", ritual)), "priority", "high"}, reason: malformed, errHas: "priority"},
		{name: "oversized", values: []any{"event", asJSON(valid("SUMMON_RITUAL", map[string]any{"number": 3, "seeker": "Mina", "question": strings.Repeat("boo ", 300_000)}))}, reason: oversized, errHas: "bytes"},
		{name: "unknown type", values: []any{"event", asJSON(valid("NOBODY_LISTENS", map[string]any{}))}, reason: "unroutable", errHas: "NOBODY_LISTENS"},
		{name: "invalid ritual", values: []any{"event", asJSON(valid("SUMMON_RITUAL", badRitual))}, reason: "handler_failed", organ: "Summoner", errHas: "question"},
	}
	byEntry := make(map[string]garbage, len(junk))
	for _, g := range junk {
		id, err := rdb.XAdd(ctx, &goredis.XAddArgs{Stream: f.stream, Values: g.values}).Result()
		if err != nil {
			t.Fatalf("XADD %s: %v", g.name, err)
		}
		byEntry[id] = g
	}
	f.emitSeance(ctx, "clean-2", rituals)

	waitFor(ctx, t, "both séances and every dead letter", func() (bool, string) {
		f.alive()
		d1 := countDone(omens("clean-1", w1, w2), rituals)
		d2 := countDone(omens("clean-2", w1, w2), rituals)
		ok, st := drained(ctx, rdb, f.stream)
		n := dlqLen(ctx, t, rdb, f.stream)
		return d1 == rituals && d2 == rituals && ok && n >= int64(len(junk)),
			fmt.Sprintf("%d+%d/%d omens, %d/%d dead letters; group: %s", d1, d2, 2*rituals, n, len(junk), st)
	})
	f.stop()

	for _, id := range []string{"clean-1", "clean-2"} {
		problems, _ := omenProblems(omens(id, w1, w2), rituals, false)
		reportProblems(t, "omens of "+id, problems)
	}
	var junkIDs []string
	for id := range byEntry {
		junkIDs = append(junkIDs, id)
	}
	c := takeCensus(ctx, t, rdb, f.stream, junkIDs...)
	reportProblems(t, "stream", c.exactlyOnce(append(ritualKeys("clean-1", rituals), ritualKeys("clean-2", rituals)...), seanceTypes, false))
	checkDrained(ctx, t, rdb, f.stream)

	dls := deadLetters(ctx, t, rdb, f.stream)
	if len(dls) != len(junk) {
		t.Errorf("dead letters: %d, want %d, one per garbage entry", len(dls), len(junk))
	}
	seen := make(map[string]int)
	for _, dl := range dls {
		g, ok := byEntry[dl.EntryID]
		if !ok {
			t.Errorf("dead letter %s for entry %q, which is no garbage: %s: %s", dl.ID, dl.EntryID, dl.Reason, dl.Error)
			continue
		}
		seen[dl.EntryID]++
		if dl.Reason != g.reason || dl.Organ != g.organ || dl.Error == "" || !strings.Contains(dl.Error, g.errHas) {
			t.Errorf("%s: dead letter says reason %q, organ %q, error %q; want reason %q, organ %q, an error naming %q",
				g.name, dl.Reason, dl.Organ, dl.Error, g.reason, g.organ, g.errHas)
		}
		if dl.Event == "" || dl.Time == "" {
			t.Errorf("%s: dead letter without the original entry or the time: %+v", g.name, dl)
		}
		t.Logf("%-22s → %s (organ %q, %d attempts): %.120s", g.name, dl.Reason, dl.Organ, dl.Attempts, dl.Error)
	}
	for id, g := range byEntry {
		if seen[id] != 1 {
			t.Errorf("%s (entry %s): dead-lettered %d times, want once", g.name, id, seen[id])
		}
	}
}

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
