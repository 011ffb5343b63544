package necrotest_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/necrostack/necrostack/core"
	"github.com/necrostack/necrostack/core/necrotest"
)

// writeChain writes tr as `necro trace --format export` would: the events
// in the wire form, oldest first, and the dead letters.
func writeChain(t *testing.T, tr *necrotest.Trace) string {
	t.Helper()
	type dead struct {
		Event    json.RawMessage `json:"event"`
		Organ    string          `json:"organ,omitempty"`
		Reason   string          `json:"reason"`
		Attempts int             `json:"attempts"`
		Error    string          `json:"error"`
	}
	f := struct {
		ChainID     string            `json:"chain_id"`
		Events      []json.RawMessage `json:"events"`
		DeadLetters []dead            `json:"dead_letters"`
	}{ChainID: tr.Records[0].Event.CorrelationID()}
	for _, e := range tr.Events() {
		f.Events = append(f.Events, e.AppendJSON(nil))
	}
	for _, dl := range tr.DeadLetters {
		f.DeadLetters = append(f.DeadLetters, dead{dl.Event.AppendJSON(nil), dl.Organ, dl.Reason, dl.Attempts, dl.Error})
	}
	data, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "order.chain.json")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// A recorded chain replays through the same organs without a difference,
// and through changed organs with one that says what changed.
func TestReplay(t *testing.T) {
	t.Parallel()
	recorded, err := necrotest.RunWith(context.Background(), necrotest.Config{}, tree(), core.MustEvent("ORDER", map[string]int{"n": 1}))
	if err != nil {
		t.Fatal(err)
	}
	path := writeChain(t, recorded)
	c, err := necrotest.LoadChain(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Events) != 7 || len(c.DeadLetters) != 1 || len(c.Seeds()) != 1 || !c.Seeds()[0].Equal(recorded.Records[0].Event) {
		t.Fatalf("loaded %d events, %d dead letters, seeds %v", len(c.Events), len(c.DeadLetters), c.Seeds())
	}
	tr := necrotest.Replay(t, tree(), path)
	if !tr.Records[0].Event.Equal(recorded.Records[0].Event) {
		t.Errorf("the replay started from %s, not the recorded seed %s", tr.Records[0].Event, recorded.Records[0].Event)
	}

	// New code: the Biller bills line 1 twice, the Auditor passes line 2.
	changed := tree()
	biller := necrotest.NewFake("Biller").Do(func(_ context.Context, e core.Event) ([]core.Event, error) {
		var line struct{ Line int }
		if err := e.DecodePayload(&line); err != nil {
			return nil, err
		}
		out := []core.Event{core.MustEvent("BILL", map[string]any{"line": line.Line, "at": "2026-01-01T00:00:00Z"})}
		if line.Line == 1 {
			out = append(out, core.MustEvent("BILL", map[string]any{"line": line.Line, "at": "2026-01-01T00:00:00Z"}))
		}
		return out, nil
	})
	auditor := necrotest.NewFake("Auditor")
	_, diff, err := necrotest.ReplayWith(context.Background(), necrotest.Config{}, necrotest.Replace(t, changed, biller, auditor), c)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"+     e6 BILL {\"at\":\"<time>\",\"line\":1}",
		"- dead e7 BILL organ=Auditor reason=handler_failed attempts=3",
	} {
		if !strings.Contains(diff, want) {
			t.Errorf("the difference lacks %q:\n%s", want, diff)
		}
	}
	failed, _ := stops(t, func(tb testing.TB) { necrotest.Replay(tb, necrotest.Replace(t, tree(), auditor), path) })
	if len(failed) != 1 || !strings.Contains(failed[0], "differs from the recorded chain") || !strings.Contains(failed[0], "flowchart TD") {
		t.Errorf("Replay through changed organs: %q", failed)
	}
}

// A chain file that cannot be read is an error that says why.
func TestLoadChainRefuses(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, c := range []struct{ path, want string }{
		{filepath.Join(dir, "missing.json"), "no such file"},
		{write("bad.json", `{"events": [`), "unexpected end of JSON"},
		{write("empty.json", `{"chain_id": "x", "events": []}`), "holds no events"},
		{write("event.json", `{"events": [{"id": "not-a-uuid"}]}`), "event #0"},
		{write("dead.json", `{"events": [`+string(core.MustEvent("A", nil).AppendJSON(nil))+`], "dead_letters": [{"event": {}}]}`), "dead letter #0"},
	} {
		if _, err := necrotest.LoadChain(c.path); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("LoadChain(%s): %v; want an error with %q", filepath.Base(c.path), err, c.want)
		}
	}
}

// A chain file may list an event after its children (one known only from
// its dead letter comes last): the recorded trace still puts parents
// first, and the replay agrees with it.
func TestReplayOfAFileOutOfOrder(t *testing.T) {
	t.Parallel()
	recorded, err := necrotest.RunWith(context.Background(), necrotest.Config{}, tree(), core.MustEvent("ORDER", map[string]int{"n": 1}))
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(recorded.Records) // children first, the seed last
	path := writeChain(t, recorded)
	c, err := necrotest.LoadChain(path)
	if err != nil {
		t.Fatal(err)
	}
	if tr := c.Trace(); tr.Records[0].Event.Type() != "ORDER" || tr.Records[0].Depth != 0 || tr.Records[1].Parent != tr.Records[0].Event.ID() {
		t.Fatalf("the recorded trace of a reversed file:\n%s", tr)
	}
	necrotest.Replay(t, tree(), path)
}
