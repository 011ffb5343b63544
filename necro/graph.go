package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	nsredis "github.com/necrostack/necrostack/backends/redis"
)

// flow is what `necro graph` finds: which event types lead to which, how
// often, and where the dead letters are.
type flow struct {
	Stream    string     `json:"stream"`
	Scanned   int        `json:"scanned"`
	Types     []flowType `json:"types"`
	Edges     []flowEdge `json:"edges"`
	Malformed int        `json:"malformed_entries"`
}

type flowType struct {
	Type   string `json:"event_type"`
	Events int    `json:"events"`
	Seeds  int    `json:"seeds"` // events with no parent: enqueued by a producer
}

type flowEdge struct {
	From  string `json:"from"`
	To    string `json:"to"` // an event type, or "dead letter: ORGAN (REASON)"
	Count int    `json:"count"`
	Dead  bool   `json:"dead_letter"`
}

// seedNode is the box the seeds come from.
const seedNode = "(enqueued)"

// observeFlow counts the types and the parent → child type pairs among
// entries (a child whose parent is not among them counts under its
// type only), and the dead letters by event type, organ and reason.
func observeFlow(entries []nsredis.StreamEvent, dls []nsredis.DeadLetter) *flow {
	f := &flow{Scanned: len(entries), Types: []flowType{}, Edges: []flowEdge{}}
	typeOf := map[string]string{} // event id → type
	for _, se := range entries {
		if !se.Event.IsZero() {
			typeOf[se.Event.ID()] = se.Event.Type()
		}
	}
	types := map[string]*flowType{}
	edges := map[[2]string]*flowEdge{}
	var order []string
	var edgeOrder [][2]string
	edge := func(from, to string, dead bool) {
		k := [2]string{from, to}
		if edges[k] == nil {
			edges[k] = &flowEdge{From: from, To: to, Dead: dead}
			edgeOrder = append(edgeOrder, k)
		}
		edges[k].Count++
	}
	seen := map[string]bool{}
	for i := len(entries) - 1; i >= 0; i-- { // oldest first
		e := entries[i].Event
		if e.IsZero() {
			f.Malformed++
			continue
		}
		if seen[e.ID()] { // redriven or enqueued again: one event
			continue
		}
		seen[e.ID()] = true
		t := types[e.Type()]
		if t == nil {
			t = &flowType{Type: e.Type()}
			types[e.Type()] = t
			order = append(order, e.Type())
		}
		t.Events++
		switch p := e.ParentID(); {
		case p == "":
			t.Seeds++
			edge(seedNode, e.Type(), false)
		case typeOf[p] != "":
			edge(typeOf[p], e.Type(), false)
		}
	}
	for _, dl := range dls {
		from := dl.Event.Type()
		if dl.Event.IsZero() {
			from = "(not an event)"
		}
		edge(from, fmt.Sprintf("dead letter: %s (%s)", orDash(dl.Organ), dl.Reason), true)
	}
	for _, name := range order {
		f.Types = append(f.Types, *types[name])
	}
	for _, k := range edgeOrder {
		f.Edges = append(f.Edges, *edges[k])
	}
	return f
}

func (f *flow) picture() *picture {
	p := &picture{}
	known := map[string]bool{}
	box := func(id string, dead bool, lines ...string) {
		if !known[id] {
			known[id] = true
			p.node(id, dead, lines...)
		}
	}
	counts := map[string]int{}
	for _, t := range f.Types {
		counts[t.Type] = t.Events
	}
	for _, e := range f.Edges {
		if e.From == seedNode {
			box(seedNode, false, seedNode)
		}
	}
	for _, t := range f.Types {
		box(t.Type, false, t.Type, fmt.Sprintf("%d events", t.Events))
	}
	for _, e := range f.Edges {
		box(e.From, false, e.From)
		if i := strings.LastIndex(e.To, " ("); e.Dead && i > 0 { // "dead letter: ORGAN (REASON)"
			box(e.To, true, e.To[:i], strings.TrimSuffix(e.To[i+2:], ")"))
		} else {
			box(e.To, e.Dead, e.To)
		}
		p.edge(e.From, e.To, fmt.Sprint(e.Count), e.Dead)
	}
	return p
}

func (f *flow) text(out io.Writer) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "FROM\tTO\tCOUNT")
	for _, e := range f.Edges {
		to := e.To
		if e.Dead {
			to = "✗ " + to
		}
		fmt.Fprintf(w, "%s\t%s\t%d\n", e.From, to, e.Count)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(out, "%d event types in the %d newest entries of %s (%d not events)\n", len(f.Types), f.Scanned, f.Stream, f.Malformed)
	return err
}

func graphCommand(o *options) *cobra.Command {
	return drawCommand(o, &cobra.Command{
		Use:   "graph STREAM",
		Short: "The flow of event types in a stream: which lead to which, how often, where dead letters happen",
		Long: "graph reads the newest entries of STREAM (--scan of them) and its dead letters, and counts\n" +
			"each event type, which type each was emitted from (through its parent_id), the seeds\n" +
			"(enqueued by a producer), and the dead letters by type, organ and reason. --format mermaid,\n" +
			"dot or svg draws it.",
		Example: "  necro graph necrostack:seance\n  necro graph necrostack:seance --format svg > flow.svg",
		Args:    cobra.ExactArgs(1),
	}, false, "how many of the stream's newest entries to read", nil,
		func(entries []nsredis.StreamEvent, dls []nsredis.DeadLetter, args []string) (drawing, error) {
			f := observeFlow(entries, dls)
			f.Stream = args[0]
			return f, nil
		})
}
