package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/necrostack/necrostack/core"
	"github.com/necrostack/necrostack/core/necrotest"
)

// `necro trace --format export` writes a chain that necrotest reads back
// and replays: through the organs that made it, no difference; through an
// Oracle that no longer fails, the difference is the OMEN it now emits and
// the dead letter it no longer writes.
func TestTraceExportReplays(t *testing.T) {
	s := seed(t)
	dead := dls(t, s, "--organ", "Oracle")[0]
	var spirit struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(dead.Event, &spirit); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := necro(t, s.srv.URL(), "trace", stream, spirit.ID, "--format", "export")
	if code != 0 {
		t.Fatalf("trace --format export: exit %d: %s", code, errOut)
	}
	path := filepath.Join(t.TempDir(), "ritual.chain.json")
	if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := necrotest.LoadChain(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Events) != 2 || c.Events[0].Type() != "SUMMON" || c.Events[1].ID() != spirit.ID || len(c.DeadLetters) != 1 ||
		c.DeadLetters[0].Organ != "Oracle" || c.DeadLetters[0].Reason != core.ReasonHandlerFailed || c.DeadLetters[0].Attempts != 1 {
		t.Fatalf("exported chain: %+v\n%s", c, out)
	}

	summoner := core.OrganFunc("Summoner", []string{"SUMMON"}, func(context.Context, core.Event) ([]core.Event, error) {
		return []core.Event{core.MustEvent("SPIRIT", nil)}, nil
	})
	scribe := core.OrganFunc("Scribe", []string{"OMEN"}, func(context.Context, core.Event) ([]core.Event, error) { return nil, nil })
	oracle := func(fails bool) core.Organ {
		return core.OrganFunc("Oracle", []string{"SPIRIT"}, func(context.Context, core.Event) ([]core.Event, error) {
			if fails {
				return nil, core.Permanent(errSilent)
			}
			return []core.Event{core.MustEvent("OMEN", nil)}, nil
		})
	}
	tr := necrotest.Replay(t, []core.Organ{summoner, oracle(true), scribe}, path)
	if !tr.Records[0].Event.Equal(c.Events[0]) {
		t.Errorf("the replay started from %s, not the exported seed %s", tr.Records[0].Event, c.Events[0])
	}
	_, diff, err := necrotest.ReplayWith(context.Background(), necrotest.Config{}, []core.Organ{summoner, oracle(false), scribe}, c)
	if err != nil {
		t.Fatal(err)
	}
	want := "  e1 SUMMON {}\n" +
		"    e2 SPIRIT {}\n" +
		"+     e3 OMEN {}\n" +
		"- dead e2 SPIRIT organ=Oracle reason=handler_failed attempts=1"
	if diff != want {
		t.Errorf("replay through an Oracle that does not fail:\n%s\nwant:\n%s", diff, want)
	}
	if code, _, errOut := necro(t, s.srv.URL(), "graph", stream, "--format", "export"); code != 2 || !strings.Contains(errOut, `--format "export": want text, json, mermaid, dot or svg`) {
		t.Errorf("graph --format export: exit %d, %s; want a usage error", code, errOut)
	}
}
