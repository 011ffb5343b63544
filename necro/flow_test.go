package main

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/necrostack/necrostack/core"
)

// wellFormed fails t unless svg is well-formed XML with an <svg> root,
// and returns how many <rect> it holds.
func wellFormed(t *testing.T, svg string) int {
	t.Helper()
	dec := xml.NewDecoder(strings.NewReader(svg))
	rects, root := 0, ""
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("the SVG is not well-formed: %v\n%s", err, svg)
		}
		if se, ok := tok.(xml.StartElement); ok {
			if root == "" {
				root = se.Name.Local
			}
			if se.Name.Local == "rect" {
				rects++
			}
		}
	}
	if root != "svg" {
		t.Fatalf("the root is <%s>, want <svg>", root)
	}
	return rects
}

func TestTrace(t *testing.T) {
	s := seed(t)
	dead := dls(t, s, "--organ", "Oracle")[0]
	var spirit struct {
		ID     string `json:"id"`
		Parent string `json:"parent_id"`
		Chain  string `json:"correlation_id"`
	}
	if err := json.Unmarshal(dead.Event, &spirit); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{spirit.ID, spirit.Chain} { // by any event of the chain
		code, out, errOut := necro(t, s.srv.URL(), "trace", stream, id, "-o", "json")
		if code != 0 {
			t.Fatalf("trace %s: exit %d, %s", id, code, errOut)
		}
		var c chain
		if err := json.Unmarshal([]byte(out), &c); err != nil {
			t.Fatal(err)
		}
		if c.ID != spirit.Chain || c.Events != 2 || c.Dead != 1 || len(c.Roots) != 1 || c.Roots[0].ID != spirit.Chain ||
			len(c.Roots[0].Children) != 1 || c.Roots[0].Children[0].ID != spirit.ID || len(c.Roots[0].Children[0].DeadLetters) != 1 ||
			c.Roots[0].Children[0].DeadLetters[0].Organ != "Oracle" {
			t.Errorf("trace %s: %s; want SUMMON → SPIRIT, dead-lettered by the Oracle", id, out)
		}
	}
	code, out, _ := necro(t, s.srv.URL(), "trace", stream, spirit.ID)
	if code != 0 || !strings.Contains(out, "chain "+spirit.Chain+": 2 events, 1 dead letters") || !strings.Contains(out, "└─ SPIRIT") ||
		!strings.Contains(out, "✗ dead letter "+dead.ID+": Oracle, handler_failed") {
		t.Errorf("trace as text: exit %d:\n%s", code, out)
	}
	for format, want := range map[string]string{"mermaid": "graph TD", "dot": "digraph necrostack {"} {
		if code, out, _ := necro(t, s.srv.URL(), "trace", stream, spirit.ID, "--format", format); code != 0 || !strings.HasPrefix(out, want) || strings.Count(out, "SUMMON") != 1 {
			t.Errorf("trace --format %s: exit %d:\n%s", format, code, out)
		}
	}
	code, out, _ = necro(t, s.srv.URL(), "trace", stream, spirit.ID, "--format", "svg")
	if code != 0 || wellFormed(t, out) != 1+3 { // the background, two events, a dead letter
		t.Errorf("trace --format svg: exit %d, %d boxes:\n%s", code, wellFormed(t, out)-1, out)
	}
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"trace", stream, "0d95b3c4-bb1c-4538-bf09-66593ea5cdbd"}, 1, "no event 0d95b3c4-bb1c-4538-bf09-66593ea5cdbd in the"},
		{[]string{"trace", stream, "nope"}, 2, `event id "nope"`},
		{[]string{"trace", stream, spirit.ID, "--format", "png"}, 2, `--format "png"`},
		{[]string{"trace", "nowhere", spirit.ID}, 1, "no such stream"},
	} {
		if code, _, errOut := necro(t, s.srv.URL(), c.args...); code != c.code || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d, %s; want %d and %q", c.args, code, errOut, c.code, c.want)
		}
	}
}

func TestGraph(t *testing.T) {
	s := seed(t)
	code, out, errOut := necro(t, s.srv.URL(), "graph", stream, "-o", "json")
	if code != 0 {
		t.Fatalf("graph: exit %d, %s", code, errOut)
	}
	var f flow
	if err := json.Unmarshal([]byte(out), &f); err != nil {
		t.Fatal(err)
	}
	edges := map[string]int{}
	for _, e := range f.Edges {
		edges[e.From+" → "+e.To] = e.Count
	}
	want := map[string]int{
		"(enqueued) → SUMMON": 23,
		"SUMMON → SPIRIT":     20,
		"SPIRIT → OMEN":       16,
		"SPIRIT → dead letter: Oracle (handler_failed)":     4,
		"(not an event) → dead letter: - (malformed_entry)": 2,
	}
	for k, n := range want {
		if edges[k] != n {
			t.Errorf("%s: %d, want %d (all: %v)", k, edges[k], n, edges)
		}
	}
	if len(edges) != len(want) || f.Malformed != 2 || f.Scanned != int(s.length) || len(f.Types) != 3 || f.Types[0].Type != "SUMMON" || f.Types[0].Seeds != 23 {
		t.Errorf("graph: %+v", f)
	}
	code, out, _ = necro(t, s.srv.URL(), "graph", stream)
	if code != 0 || !strings.Contains(out, "SPIRIT  ✗ dead letter: Oracle (handler_failed)  4") && !strings.Contains(out, "✗ dead letter: Oracle (handler_failed)") {
		t.Errorf("graph as text: exit %d:\n%s", code, out)
	}
	code, out, _ = necro(t, s.srv.URL(), "graph", stream, "--format", "svg")
	if boxes := wellFormed(t, out) - 1; code != 0 || boxes != 7 { // (enqueued), 3 types, (not an event), 2 dead letters
		t.Errorf("graph --format svg: exit %d, %d boxes", code, boxes)
	}
	if code, out, _ := necro(t, s.srv.URL(), "graph", stream, "--scan", "10", "-o", "json"); code != 0 || !strings.Contains(out, `"scanned": 10`) {
		t.Errorf("graph --scan 10: exit %d:\n%s", code, out)
	}
}

func TestTail(t *testing.T) {
	s := seed(t)
	lines := func(out string) []tailJSON {
		var got []tailJSON
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			if l == "" {
				continue
			}
			var j tailJSON
			if err := json.Unmarshal([]byte(l), &j); err != nil {
				t.Fatalf("%v in %q", err, l)
			}
			got = append(got, j)
		}
		return got
	}
	code, out, errOut := necro(t, s.srv.URL(), "tail", stream, "--from", "0", "--count", "5", "-o", "json")
	if got := lines(out); code != 0 || len(got) != 5 || got[0].Event == nil {
		t.Fatalf("tail --from 0 --count 5: exit %d, %d lines, %s", code, len(got), errOut)
	}
	code, out, _ = necro(t, s.srv.URL(), "tail", stream, "--from", "0", "--type", "OMEN", "--count", "16", "-o", "json")
	for _, j := range lines(out) {
		if !strings.Contains(string(j.Event), `"event_type":"OMEN"`) {
			t.Errorf("tail --type OMEN printed %s", j.Event)
		}
	}
	if n := len(lines(out)); code != 0 || n != 16 {
		t.Errorf("tail --type OMEN --count 16: exit %d, %d lines", code, n)
	}
	code, out, _ = necro(t, s.srv.URL(), "tail", stream, "--from", "0", "--for", "1s")
	if code != 0 || strings.Count(out, "(not an event: ") != 2 || strings.Count(out, "\n") != int(s.length) {
		t.Errorf("tail --for 1s from the start: exit %d, %d lines, want %d:\n%s", code, strings.Count(out, "\n"), s.length, out)
	}

	ctx := context.Background()
	last, err := s.rdb.XRevRangeN(ctx, stream, "+", "-", 1).Result()
	if err != nil {
		t.Fatal(err)
	}
	seedEvent := core.MustEvent("SUMMON", nil)
	wire, _ := seedEvent.MarshalJSON()
	for range 2 {
		if err := s.rdb.XAdd(ctx, &goredis.XAddArgs{Stream: stream, Values: []any{"event", string(wire)}}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	code, out, _ = necro(t, s.srv.URL(), "tail", stream, "--from", last[0].ID, "--chain", seedEvent.ID(), "--count", "2", "--for", "10s", "-o", "json")
	if got := lines(out); code != 0 || len(got) != 2 || !strings.Contains(string(got[1].Event), seedEvent.ID()) {
		t.Errorf("tail of the new entries of one chain: exit %d:\n%s", code, out)
	}
	if code, out, _ := necro(t, s.srv.URL(), "tail", stream, "--for", "300ms"); code != 0 || out != "" {
		t.Errorf("tail with nothing new: exit %d, %q", code, out)
	}
	if code, _, errOut := necro(t, s.srv.URL(), "tail", "nowhere", "--for", "1s"); code != 1 || !strings.Contains(errOut, "no such stream") {
		t.Errorf("tail nowhere: exit %d, %s", code, errOut)
	}
}

// Odd text (quotes, markup, control characters, pipes) in what a picture
// shows never breaks the SVG, the Mermaid or the DOT.
func TestPicturesOfOddText(t *testing.T) {
	p := &picture{}
	odd := "Or\"acle <b>&amp;</b> |x|\x01\n"
	p.node("a", false, "A_TYPE", odd)
	p.node("b"+odd, true, "dead letter: "+odd, "reason")
	p.edge("a", "b"+odd, odd, true)
	var svg, mermaid, dot strings.Builder
	for format, b := range map[string]*strings.Builder{"svg": &svg, "mermaid": &mermaid, "dot": &dot} {
		if err := p.render(b, format); err != nil {
			t.Fatal(err)
		}
	}
	if n := wellFormed(t, svg.String()); n != 1+2 {
		t.Errorf("%d boxes in the SVG", n-1)
	}
	m := mermaid.String()
	if strings.Count(m, "\n") != 5 || strings.ContainsAny(strings.ReplaceAll(m, "\n", ""), "<>\x01") && !strings.Contains(m, "<br/>") {
		t.Errorf("Mermaid:\n%s", m)
	}
	for _, bad := range []string{"<b>", "\x01", "|x|"} {
		if strings.Contains(m, bad) {
			t.Errorf("Mermaid holds %q:\n%s", bad, m)
		}
	}
	d := dot.String()
	if strings.Contains(d, "\x01") || strings.Count(d, "\n") != 7 || !strings.Contains(d, `Or\"acle`) {
		t.Errorf("DOT:\n%s", d)
	}
}
