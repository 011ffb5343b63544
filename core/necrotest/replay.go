package necrotest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"testing"

	"github.com/necrostack/necrostack/core"
)

// Chain is a chain recorded elsewhere, such as in production: its events,
// oldest first, and its dead letters. `necro trace STREAM ID --format
// export` writes one from a Redis stream, as JSON:
//
//	{"chain_id": "…",
//	 "events": [<event in the wire form>, …],
//	 "dead_letters": [{"event": <event>, "organ": "…", "reason": "…", "attempts": 3, "error": "…"}, …]}
type Chain struct {
	ID          string
	Events      []core.Event
	DeadLetters []core.DeadLetter
}

type chainFile struct {
	ChainID     string            `json:"chain_id"`
	Events      []json.RawMessage `json:"events"`
	DeadLetters []struct {
		Event    json.RawMessage `json:"event"`
		Organ    string          `json:"organ"`
		Reason   string          `json:"reason"`
		Attempts int             `json:"attempts"`
		Error    string          `json:"error"`
	} `json:"dead_letters"`
}

// LoadChain reads a chain file. Each event must decode as core.DecodeEvent
// decodes an entry; an error names the one that does not.
func LoadChain(path string) (*Chain, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("necrotest: chain: %w", err)
	}
	var f chainFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("necrotest: chain %s: %w", path, err)
	}
	if len(f.Events) == 0 {
		return nil, fmt.Errorf("necrotest: chain %s holds no events", path)
	}
	c := &Chain{ID: f.ChainID}
	for i, raw := range f.Events {
		e, err := core.DecodeEvent(raw)
		if err != nil {
			return nil, fmt.Errorf("necrotest: chain %s, event #%d: %w", path, i, err)
		}
		c.Events = append(c.Events, e)
	}
	for i, d := range f.DeadLetters {
		e, err := core.DecodeEvent(d.Event)
		if err != nil {
			return nil, fmt.Errorf("necrotest: chain %s, dead letter #%d: %w", path, i, err)
		}
		c.DeadLetters = append(c.DeadLetters, core.DeadLetter{Event: e, Organ: d.Organ, Reason: d.Reason, Attempts: d.Attempts, Error: d.Error})
	}
	return c, nil
}

// Trace returns the chain as a Trace, each event under its parent, parents
// before their children whatever order the file lists them in (an event
// known only from its dead letter comes last there): what the organs that
// ran it did not record (which organ emitted an event, the calls) is
// missing.
func (c *Chain) Trace() *Trace {
	in := make(map[string]bool, len(c.Events))
	children := map[string][]core.Event{}
	for _, e := range c.Events {
		in[e.ID()] = true
	}
	tr := &Trace{index: map[string]int{}, DeadLetters: c.DeadLetters}
	var add func(e core.Event, parent string, depth int)
	add = func(e core.Event, parent string, depth int) {
		if _, done := tr.index[e.ID()]; done {
			return // listed twice, or its own child
		}
		tr.index[e.ID()] = len(tr.Records)
		tr.Records = append(tr.Records, Record{Event: e, Parent: parent, Depth: depth})
		for _, k := range children[e.ID()] {
			add(k, e.ID(), depth+1)
		}
	}
	for _, e := range c.Events {
		if p := e.ParentID(); p != "" && in[p] {
			children[p] = append(children[p], e)
		}
	}
	for _, e := range c.Seeds() {
		add(e, "", 0)
	}
	return tr
}

// Seeds returns the events the chain starts from: those whose parent is
// not in it (its seed, or, when the seed was trimmed away, the oldest
// events left).
func (c *Chain) Seeds() []core.Event {
	in := make(map[string]bool, len(c.Events))
	for _, e := range c.Events {
		in[e.ID()] = true
	}
	var out []core.Event
	for _, e := range c.Events {
		if e.ParentID() == "" || !in[e.ParentID()] {
			out = append(out, e)
		}
	}
	return out
}

// Replay runs the seeds of the chain file at path through organs, and
// fails t when the chain they make differs from the recorded one: other
// event types, payloads or lineage, other dead letters (by event, organ,
// reason and attempts). It is a pre-deploy check: export a chain from
// production with `necro trace … --format export`, and replay it through
// the new organ code. The comparison is ReplayWith's, with the harness's
// defaults: the production default of 3 attempts, for instance, so a chain
// recorded with another retry policy wants ReplayWith and that policy. A
// dead letter the backend wrote itself (an entry that was no event) cannot
// recur in a replay.
func Replay(t testing.TB, organs []core.Organ, path string) *Trace {
	t.Helper()
	c, err := LoadChain(path)
	if err != nil {
		t.Fatal(err)
	}
	tr, diff, err := ReplayWith(context.Background(), Config{}, organs, c)
	if err != nil {
		t.Fatalf("necrotest: replay of %s: %v", path, err)
	}
	if diff != "" {
		t.Errorf("necrotest: replay of %s differs from the recorded chain (- recorded, + replayed):\n%s\nreplayed chain:\n%s",
			path, diff, tr.Mermaid())
	}
	return tr
}

// ReplayWith runs the seeds of c through organs with opts, and returns the
// trace and where it differs from c: a line diff of both canonical forms
// (see Canonical) without what a recorded chain does not know (organs,
// calls) nor the dead letters' error texts; "" when they agree. Times are
// not compared.
func ReplayWith(ctx context.Context, opts Config, organs []core.Organ, c *Chain) (*Trace, string, error) {
	tr, err := RunWith(ctx, opts, organs, c.Seeds()...)
	if err != nil {
		return tr, "", err
	}
	want, got := c.Trace().Canonical(withoutOrgans()), tr.Canonical(withoutOrgans())
	if want == got {
		return tr, "", nil
	}
	return tr, lineDiff(want, got), nil
}
