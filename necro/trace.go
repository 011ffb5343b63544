package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	nsredis "github.com/necrostack/necrostack/backends/redis"
	"github.com/necrostack/necrostack/core"
)

// chainNode is an event of a chain: where it is, its dead letters, and
// the events emitted from it.
type chainNode struct {
	ID          string       `json:"id"`
	Type        string       `json:"event_type"`
	EntryID     string       `json:"entry_id"`
	Time        time.Time    `json:"time"`
	Entries     int          `json:"entries"` // 2 and more: redriven, or enqueued again
	DeadLetters []chainDead  `json:"dead_letters"`
	Children    []*chainNode `json:"children"`
	event       core.Event
}

type chainDead struct {
	ID       string `json:"id"`
	Organ    string `json:"organ,omitempty"`
	Reason   string `json:"reason"`
	Attempts int    `json:"attempts"`
	Error    string `json:"error"`
}

// chain is what `necro trace` finds: the chain id and its events as a
// tree (several roots when its seed is no longer in the stream).
type chain struct {
	ID      string       `json:"chain_id"`
	Events  int          `json:"events"`
	Dead    int          `json:"dead_letters"`
	Roots   []*chainNode `json:"roots"`
	Scanned int          `json:"scanned"`
	all     []*chainNode // oldest first
}

// findChain builds the chain of the event id from the entries of a stream
// and its dead letters.
func findChain(entries []nsredis.StreamEvent, dls []nsredis.DeadLetter, id string) (*chain, error) {
	chainID := ""
	for _, se := range entries {
		if se.Event.ID() == id {
			chainID = se.Event.CorrelationID()
			break
		}
	}
	for _, dl := range dls {
		if chainID == "" && dl.Event.ID() == id {
			chainID = dl.Event.CorrelationID()
		}
	}
	if chainID == "" {
		return nil, notFound{fmt.Errorf("no event %s in the %d newest entries of the stream, nor in its dead letters (--scan reads more)", id, len(entries))}
	}
	c := &chain{ID: chainID, Scanned: len(entries)}
	nodes := map[string]*chainNode{}
	var order []*chainNode
	add := func(e core.Event, entryID string) *chainNode {
		if n := nodes[e.ID()]; n != nil {
			n.Entries++
			return n
		}
		n := &chainNode{ID: e.ID(), Type: e.Type(), EntryID: entryID, Time: e.Timestamp(), Entries: 1,
			DeadLetters: []chainDead{}, Children: []*chainNode{}, event: e}
		nodes[e.ID()] = n
		order = append(order, n)
		return n
	}
	for i := len(entries) - 1; i >= 0; i-- { // oldest first
		if e := entries[i].Event; !e.IsZero() && e.CorrelationID() == chainID {
			add(e, entries[i].EntryID)
		}
	}
	for _, dl := range dls {
		if dl.Event.IsZero() || dl.Event.CorrelationID() != chainID {
			continue
		}
		n := nodes[dl.Event.ID()]
		if n == nil { // trimmed from the stream: known by its dead letter
			n = add(dl.Event, dl.EntryID)
			n.Entries = 0
		}
		n.DeadLetters = append(n.DeadLetters, chainDead{ID: dl.ID, Organ: dl.Organ, Reason: dl.Reason, Attempts: dl.Attempts, Error: dl.Error})
		c.Dead++
	}
	for _, n := range order {
		if p := nodes[n.event.ParentID()]; p != nil && n.event.ParentID() != "" {
			p.Children = append(p.Children, n)
		} else {
			c.Roots = append(c.Roots, n)
		}
	}
	c.Events, c.all = len(order), order
	return c, nil
}

// chainFile is the file `necro trace --format export` writes and
// necrotest.LoadChain reads, to replay a chain in a test: the chain's
// events in the wire form, oldest first, each once, and its dead letters
// with the events they hold.
type chainFile struct {
	ChainID     string            `json:"chain_id"`
	Events      []json.RawMessage `json:"events"`
	DeadLetters []chainFileDead   `json:"dead_letters"`
}

type chainFileDead struct {
	Event    json.RawMessage `json:"event"`
	Organ    string          `json:"organ,omitempty"`
	Reason   string          `json:"reason"`
	Attempts int             `json:"attempts"`
	Error    string          `json:"error"`
}

// export writes the chain as a chainFile, indented.
func (c *chain) export(w io.Writer) error {
	f := chainFile{ChainID: c.ID, Events: []json.RawMessage{}, DeadLetters: []chainFileDead{}}
	for _, n := range c.all {
		wire := json.RawMessage(n.event.AppendJSON(nil))
		f.Events = append(f.Events, wire)
		for _, d := range n.DeadLetters {
			f.DeadLetters = append(f.DeadLetters, chainFileDead{Event: wire, Organ: d.Organ, Reason: d.Reason, Attempts: d.Attempts, Error: d.Error})
		}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(f)
}

// text writes the chain as an indented tree, times from its first event.
func (c *chain) text(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "chain %s: %d events, %d dead letters\n", c.ID, c.Events, c.Dead)
	var t0 time.Time
	if len(c.Roots) > 0 {
		t0 = c.Roots[0].Time
	}
	var walk func(n *chainNode, prefix string, last bool, depth int)
	walk = func(n *chainNode, prefix string, last bool, depth int) {
		branch, next := "├─ ", "│  "
		if last {
			branch, next = "└─ ", "   "
		}
		if depth == 0 {
			branch, next = "", ""
		}
		extra := ""
		if n.Entries > 1 {
			extra = fmt.Sprintf("  (in %d entries)", n.Entries)
		}
		fmt.Fprintf(&b, "%s%s%s  %s  +%s  entry %s%s\n", prefix, branch, n.Type, n.ID, n.Time.Sub(t0).Round(10*time.Microsecond), n.EntryID, extra)
		kids := len(n.Children) + len(n.DeadLetters)
		i := 0
		for _, d := range n.DeadLetters {
			i++
			mark := "├─ "
			if i == kids {
				mark = "└─ "
			}
			fmt.Fprintf(&b, "%s%s%s✗ dead letter %s: %s, %s after %d attempts: %s\n", prefix, next, mark, d.ID, orDash(d.Organ), d.Reason, d.Attempts, clip(d.Error, 80))
		}
		for _, ch := range n.Children {
			i++
			walk(ch, prefix+next, i == kids, depth+1)
		}
	}
	for i, r := range c.Roots {
		if i > 0 || r.event.ID() != c.ID {
			if i == 0 {
				b.WriteString("(the seed is no longer in the stream)\n")
			}
		}
		walk(r, "", true, 0)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// picture draws the chain: a box per event, a red one per dead letter.
func (c *chain) picture() *picture {
	p := &picture{}
	var t0 time.Time
	if len(c.Roots) > 0 {
		t0 = c.Roots[0].Time
	}
	var walk func(n *chainNode)
	walk = func(n *chainNode) {
		p.node(n.ID, false, n.Type, n.ID[:8]+"  +"+n.Time.Sub(t0).Round(10*time.Microsecond).String())
		for _, d := range n.DeadLetters {
			who := d.Organ
			if who == "" {
				who = d.Reason
			}
			p.node(d.ID, true, "dead letter: "+who, d.Reason)
			p.edge(n.ID, d.ID, "", true)
		}
		for _, ch := range n.Children {
			walk(ch)
			p.edge(n.ID, ch.ID, "", false)
		}
	}
	for _, r := range c.Roots {
		walk(r)
	}
	return p
}

func traceCommand(o *options) *cobra.Command {
	return drawCommand(o, &cobra.Command{
		Use:   "trace STREAM EVENT_ID",
		Short: "Every event of one chain, found by any of its event ids, as a tree (or a picture)",
		Long: "trace finds the event among the newest entries of STREAM (--scan of them) and its dead letters,\n" +
			"then every event of its chain (the same correlation id), and draws them as a tree: each event\n" +
			"under the one it was emitted from, with its time from the seed, and the dead letters where the\n" +
			"chain stopped. --format mermaid, dot or svg draws it as a picture; --format export writes the\n" +
			"chain as a file that necrotest.Replay runs again through new organ code, in a test.",
		Example: "  necro trace necrostack:seance 0d95b3c4-bb1c-4538-bf09-66593ea5cdbd\n" +
			"  necro trace necrostack:seance 0d95b3c4-bb1c-4538-bf09-66593ea5cdbd --format svg > chain.svg\n" +
			"  necro trace necrostack:seance 0d95b3c4-bb1c-4538-bf09-66593ea5cdbd --format export > testdata/ritual.chain.json",
		Args: cobra.ExactArgs(2),
	}, true, "how many of the stream's newest entries to look through",
		func(args []string) error {
			if _, err := uuid.Parse(args[1]); err != nil {
				return usageError{fmt.Errorf("event id %q: %v", args[1], err)}
			}
			return nil
		},
		func(entries []nsredis.StreamEvent, dls []nsredis.DeadLetter, args []string) (drawing, error) {
			return findChain(entries, dls, args[1])
		})
}

// drawing is what trace and graph find: printed as text or JSON, or drawn.
type drawing interface {
	text(w io.Writer) error
	picture() *picture
}

// drawCommand makes cmd trace or graph: with --format and --scan, checked
// with check (and args), it reads the stream and prints or draws what find
// makes of it.
func drawCommand(o *options, cmd *cobra.Command, exports bool, scanUsage string, check func(args []string) error,
	find func(entries []nsredis.StreamEvent, dls []nsredis.DeadLetter, args []string) (drawing, error)) *cobra.Command {
	var format string
	var scan int
	cmd.PreRunE = func(_ *cobra.Command, args []string) error {
		if err := checkFormat(format, exports); err != nil {
			return err
		}
		if scan < 1 {
			return usageError{fmt.Errorf("--scan %d: must be at least 1", scan)}
		}
		if check != nil {
			return check(args)
		}
		return nil
	}
	cmd.RunE = o.inspected(func(cmd *cobra.Command, in *nsredis.Inspector, args []string) error {
		entries, dls, err := readStream(cmd.Context(), in, args[0], scan)
		if err != nil {
			return err
		}
		d, err := find(entries, dls, args)
		if err != nil {
			return err
		}
		switch {
		case o.output == "json" || format == "json":
			return o.printJSON(d)
		case format == "text":
			return d.text(o.stdout)
		case format == "export":
			return d.(*chain).export(o.stdout)
		}
		return d.picture().render(o.stdout, format)
	})
	formats := "text, json, mermaid, dot or svg"
	if exports {
		formats = "text, json, mermaid, dot, svg or export (a chain file for necrotest.Replay)"
	}
	cmd.Flags().StringVar(&format, "format", "text", formats)
	cmd.Flags().IntVar(&scan, "scan", 100_000, scanUsage)
	return cmd
}

// readStream reads what trace and graph look at: the scan newest entries
// of stream, and all its dead letters.
func readStream(ctx context.Context, in *nsredis.Inspector, stream string, scan int) ([]nsredis.StreamEvent, []nsredis.DeadLetter, error) {
	entries, err := in.Events(ctx, stream, true, scan)
	if err != nil {
		return nil, nil, err
	}
	dls, err := in.DeadLetters(ctx, stream, "", 0)
	if err != nil {
		return nil, nil, err
	}
	return entries, dls, nil
}

func checkFormat(f string, exports bool) error {
	switch f {
	case "text", "json", "mermaid", "dot", "svg":
		return nil
	case "export":
		if exports {
			return nil
		}
	}
	want := "text, json, mermaid, dot or svg"
	if exports {
		want = "text, json, mermaid, dot, svg or export"
	}
	return usageError{fmt.Errorf("--format %q: want %s", f, want)}
}
