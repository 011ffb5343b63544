package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/necrostack/necrostack/core"
)

// lens are the dead-letter stream's length, and the stream's.
func (s *seeded) lens(t *testing.T) (dead, length int64) {
	t.Helper()
	ctx := context.Background()
	d, err := s.rdb.XLen(ctx, stream+":dlq").Result()
	if err != nil {
		t.Fatal(err)
	}
	l, err := s.rdb.XLen(ctx, stream).Result()
	if err != nil {
		t.Fatal(err)
	}
	return d, l
}

// dls runs dlq ls -o json with args and decodes it.
func dls(t *testing.T, s *seeded, args ...string) []deadLetterJSON {
	t.Helper()
	code, out, errOut := necro(t, s.srv.URL(), append([]string{"dlq", "ls", stream, "-o", "json"}, args...)...)
	if code != 0 {
		t.Fatalf("dlq ls %v: exit %d: %s", args, code, errOut)
	}
	var got []deadLetterJSON
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	return got
}

func TestDlqLsAndShow(t *testing.T) {
	s := seed(t)
	all := dls(t, s)
	oracle := dls(t, s, "--organ", "Oracle")
	junk := dls(t, s, "--reason", "malformed_entry")
	if len(all) != 6 || len(oracle) != 4 || len(junk) != 2 || len(dls(t, s, "--older-than", "1h")) != 0 || len(dls(t, s, "--limit", "5")) != 5 {
		t.Fatalf("dlq ls: %d in all, %d of the Oracle, %d malformed; want 6, 4, 2", len(all), len(oracle), len(junk))
	}
	for _, dl := range oracle {
		var e struct {
			Type string `json:"event_type"`
		}
		if json.Unmarshal(dl.Event, &e) != nil || e.Type != "SPIRIT" || dl.Reason != core.ReasonHandlerFailed || dl.Error != "the spirits are silent" || dl.Raw != "" {
			t.Errorf("the Oracle's dead letter %+v", dl)
		}
	}
	for _, dl := range junk {
		if dl.Event != nil || dl.Raw == "" || dl.Organ != "" {
			t.Errorf("a malformed dead letter %+v: want the raw entry, no event", dl)
		}
	}
	code, out, _ := necro(t, s.srv.URL(), "dlq", "ls", stream)
	if code != 0 || !strings.HasSuffix(out, "6 of 6 dead letters in "+stream+":dlq\n") || strings.Count(out, "(not an event)") != 2 || strings.Count(out, "SPIRIT") != 4 {
		t.Errorf("dlq ls: exit %d:\n%s", code, out)
	}
	code, out, _ = necro(t, s.srv.URL(), "dlq", "show", stream, oracle[0].ID)
	if code != 0 || !strings.Contains(out, `"event_type": "SPIRIT"`) || !strings.Contains(out, "Oracle") {
		t.Errorf("dlq show of the Oracle's: exit %d:\n%s", code, out)
	}
	code, out, _ = necro(t, s.srv.URL(), "dlq", "show", stream, junk[0].ID)
	if code != 0 || !strings.Contains(out, "raw entry (not an event") || !strings.Contains(out, "--edit FILE") {
		t.Errorf("dlq show of a malformed one: exit %d:\n%s", code, out)
	}
	if code, _, errOut := necro(t, s.srv.URL(), "dlq", "show", stream, "1-1"); code != 1 || !strings.Contains(errOut, "no such dead letter 1-1") {
		t.Errorf("dlq show 1-1: exit %d, %s", code, errOut)
	}
	if code, _, errOut := necro(t, s.srv.URL(), "dlq", "show", stream, "x"); code != 2 || !strings.Contains(errOut, `"x": not an entry id`) {
		t.Errorf("dlq show x: exit %d, %s", code, errOut)
	}
}

func TestDlqRedrive(t *testing.T) {
	s := seed(t)
	dead, length := s.lens(t)
	code, out, _ := necro(t, s.srv.URL(), "dlq", "redrive", stream, "--organ", "Oracle", "--dry-run")
	if d, l := s.lens(t); code != 0 || out != "would redrive 4 dead letters from "+stream+":dlq to "+stream+"\n" || d != dead || l != length {
		t.Errorf("--dry-run: exit %d, %q; dead letters %d → %d, stream %d → %d: want nothing changed", code, out, dead, d, length, l)
	}
	code, out, _ = necro(t, s.srv.URL(), "dlq", "redrive", stream, "--organ", "Oracle")
	if d, l := s.lens(t); code != 0 || out != "redrove 4 dead letters from "+stream+":dlq to "+stream+"\n" || d != dead-4 || l != length+4 {
		t.Errorf("redrive --organ Oracle: exit %d, %q; dead letters %d → %d, stream %d → %d", code, out, dead, d, length, l)
	}
	code, out, errOut := necro(t, s.srv.URL(), "dlq", "redrive", stream, "--all", "-o", "json")
	var res redriveJSON
	_ = json.Unmarshal([]byte(out), &res)
	if d, _ := s.lens(t); code != 1 || len(res.Redriven) != 0 || len(res.NotRedrivable) != 2 || !strings.Contains(errOut, "2 dead letters hold no valid event and stay") || d != 2 {
		t.Errorf("redrive --all of the malformed: exit %d, %+v, %q; %d left", code, res, errOut, d)
	}

	junk := dls(t, s)
	dir := t.TempDir()
	bad, good := filepath.Join(dir, "bad.json"), filepath.Join(dir, "good.json")
	mended, _ := core.MustEvent("SUMMON", nil).MarshalJSON()
	_ = os.WriteFile(bad, []byte(`{"event_type":"SUMMON"}`), 0o644)
	_ = os.WriteFile(good, mended, 0o644)
	if code, _, errOut := necro(t, s.srv.URL(), "dlq", "redrive", stream, junk[0].ID, "--edit", bad); code != 2 || !strings.Contains(errOut, "the edited event") {
		t.Errorf("--edit with an invalid event: exit %d, %s", code, errOut)
	}
	if d, _ := s.lens(t); d != 2 {
		t.Errorf("a refused edit changed the dead letters: %d", d)
	}
	code, out, _ = necro(t, s.srv.URL(), "dlq", "redrive", stream, junk[0].ID, "--edit", good)
	if d, l := s.lens(t); code != 0 || !strings.Contains(out, "edited") || d != 1 || l != length+5 {
		t.Errorf("--edit: exit %d, %q; %d dead letters, stream %d", code, out, d, l)
	}
	code, out, _ = necroIn(t, s.srv.URL(), string(mended), "dlq", "redrive", stream, junk[1].ID, "--edit", "-")
	if d, _ := s.lens(t); code != 0 || d != 0 {
		t.Errorf("--edit -: exit %d, %q; %d dead letters left", code, out, d)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"dlq", "redrive", stream}, "name dead letters by id, or select them"},
		{[]string{"dlq", "redrive", stream, "1-1", "--all"}, "not both"},
		{[]string{"dlq", "redrive", stream, "--all", "--organ", "Oracle"}, "--all selects every dead letter"},
		{[]string{"dlq", "redrive", stream, "--edit", good}, "--edit redrives one dead letter"},
	} {
		if code, _, errOut := necro(t, s.srv.URL(), c.args...); code != 2 || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d, %s; want 2 and %q", c.args, code, errOut, c.want)
		}
	}
}

func TestDlqPurge(t *testing.T) {
	s := seed(t)
	code, _, errOut := necroIn(t, s.srv.URL(), "n\n", "dlq", "purge", stream, "--reason", "malformed_entry")
	if d, _ := s.lens(t); code != 1 || !strings.Contains(errOut, "purge 2 dead letters of "+stream+":dlq for good? [y/N]") || !strings.Contains(errOut, "purge cancelled") || d != 6 {
		t.Errorf("purge answered no: exit %d, %q; %d dead letters", code, errOut, d)
	}
	code, out, _ := necro(t, s.srv.URL(), "dlq", "purge", stream, "--all", "--dry-run")
	if d, _ := s.lens(t); code != 0 || out != "would purge 6 dead letters from "+stream+":dlq\n" || d != 6 {
		t.Errorf("purge --dry-run: exit %d, %q; %d dead letters", code, out, d)
	}
	code, out, _ = necroIn(t, s.srv.URL(), "y\n", "dlq", "purge", stream, "--reason", "malformed_entry")
	if d, _ := s.lens(t); code != 0 || out != "purged 2 dead letters from "+stream+":dlq\n" || d != 4 {
		t.Errorf("purge answered yes: exit %d, %q; %d dead letters", code, out, d)
	}
	first := dls(t, s)[0].ID
	code, out, _ = necro(t, s.srv.URL(), "dlq", "purge", stream, first, "--yes", "-o", "json")
	if d, _ := s.lens(t); code != 0 || !strings.Contains(out, first) || d != 3 {
		t.Errorf("purge --yes by id: exit %d, %q; %d dead letters", code, out, d)
	}
}
