package necrotest

import (
	"cmp"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/necrostack/necrostack/core"
)

// The canonical form of a trace is what golden files hold and what two
// runs are compared by: the chain as a tree, not as a sequence. Each seed
// (in enqueue order) is followed by the events emitted for it, depth
// first, the children of an event sorted by type, payload and organ, so
// that runs whose events were enqueued in another order (Concurrency > 1,
// Config.Shuffle) give the same text when the same events descend from the
// same parents: lineage is a partial order, and only it is compared.
//
// Event ids become e1, e2 … in that order, and any other UUID in a
// payload or an error becomes u1, u2 … in order of appearance; RFC 3339
// times in payloads become <time>, or with Times their offset from the
// first seed's timestamp. Headers of W3C trace context (traceparent,
// tracestate, baggage) are left out: they differ on every run.

// CanonOption changes what the canonical form holds.
type CanonOption func(*canonOpts)

type canonOpts struct {
	times    bool
	recorded bool
}

// Times puts times into the canonical form: each event's timestamp and
// each organ call's start, as offsets from the first seed's timestamp and
// from the start of the run, and the times in payloads as offsets too.
// Use it under testing/synctest, where they are the same on every run;
// outside it they are not.
func Times() CanonOption { return func(o *canonOpts) { o.times = true } }

// withoutOrgans leaves out which organ emitted each event and the organ
// calls, which a chain read back from a stream does not know, and the dead
// letters' error texts, which replay does not compare.
func withoutOrgans() CanonOption { return func(o *canonOpts) { o.recorded = true } }

var (
	uuidRE    = regexp.MustCompile(`[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}`)
	rfc3339RE = regexp.MustCompile(`\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})`)
)

// traceHeaders are the headers the canonical form leaves out.
var traceHeaders = map[string]bool{"traceparent": true, "tracestate": true, "baggage": true}

// canon names the events of a trace and rewrites text in those names.
type canon struct {
	opts  canonOpts
	names map[string]string // event id or other UUID (lower case) -> e1 / u1
	seqs  map[string]int    // event id (lower case) -> its number, for sorting
	other int
	t0    time.Time
}

// Canonical returns the trace in its canonical form (see Golden), a line
// for each event, dead letter and, unless the trace was read back from a
// stream, organ call.
func (tr *Trace) Canonical(opts ...CanonOption) string {
	c := newCanon()
	for _, o := range opts {
		o(&c.opts)
	}
	order := tr.canonicalOrder(c)
	if len(order) > 0 {
		c.t0 = tr.Records[order[0]].Event.Timestamp()
	}
	var b strings.Builder
	for _, i := range order {
		c.writeRecord(&b, tr.Records[i])
	}
	for _, dl := range slices.SortedStableFunc(slices.Values(tr.DeadLetters), c.compareDeadLetters) {
		fmt.Fprintf(&b, "dead %s %s", c.name(dl.Event.ID()), dl.Event.Type())
		if dl.Organ != "" {
			fmt.Fprintf(&b, " organ=%s", dl.Organ)
		}
		fmt.Fprintf(&b, " reason=%s attempts=%d", dl.Reason, dl.Attempts)
		if !c.opts.recorded {
			fmt.Fprintf(&b, ": %s", c.text(dl.Error))
		}
		b.WriteByte('\n')
	}
	if !c.opts.recorded {
		for _, call := range slices.SortedStableFunc(slices.Values(tr.Calls), c.compareCalls) {
			fmt.Fprintf(&b, "call %s %s #%d", call.Organ, c.name(call.Event), call.Attempt)
			if c.opts.times {
				fmt.Fprintf(&b, " at +%s", call.At)
			}
			switch {
			case call.Err != nil:
				fmt.Fprintf(&b, ": error: %s\n", c.text(firstLine(call.Err.Error())))
			default:
				fmt.Fprintf(&b, ": emitted %d\n", len(call.Emitted))
			}
		}
	}
	if tr.Err != nil {
		fmt.Fprintf(&b, "error: %s\n", c.text(tr.Err.Error()))
	}
	return b.String()
}

// canonicalOrder returns the indexes of the records, seeds in enqueue
// order, each followed depth first by its descendants, siblings sorted by
// sortKey; and names the events e1, e2 … in that order.
func (tr *Trace) canonicalOrder(c *canon) []int {
	children := map[string][]int{}
	var roots []int
	for i, r := range tr.Records {
		if _, ok := tr.index[r.Parent]; r.Parent != "" && ok {
			children[r.Parent] = append(children[r.Parent], i)
		} else {
			roots = append(roots, i)
		}
	}
	keys := make([]string, len(tr.Records))
	for i, r := range tr.Records {
		keys[i] = sortKey(r, c.opts.recorded)
	}
	order := make([]int, 0, len(tr.Records))
	seen := make([]bool, len(tr.Records)) // an event emitted again under its own id is its own child
	var walk func(i int)
	walk = func(i int) {
		if seen[i] {
			return
		}
		seen[i] = true
		order = append(order, i)
		c.name(tr.Records[i].Event.ID())
		kids := children[tr.Records[i].Event.ID()]
		slices.SortStableFunc(kids, func(a, b int) int { return cmp.Compare(keys[a], keys[b]) })
		for _, k := range kids {
			walk(k)
		}
	}
	for _, i := range roots {
		walk(i)
	}
	return order
}

// sortKey orders siblings: by type, payload with its ids and times masked,
// then organ (unless the trace was read back from a stream, which does not
// know the organs: then the order they were enqueued in decides).
func sortKey(r Record, recorded bool) string {
	p := rfc3339RE.ReplaceAllString(uuidRE.ReplaceAllString(string(r.Event.Payload()), "~"), "~")
	k := r.Event.Type() + "\x00" + p
	if !recorded {
		k += "\x00" + r.Organ
	}
	return k
}

func (c *canon) writeRecord(b *strings.Builder, r Record) {
	fmt.Fprintf(b, "%s%s %s", strings.Repeat("  ", r.Depth), c.name(r.Event.ID()), r.Event.Type())
	if r.Organ != "" && !c.opts.recorded {
		fmt.Fprintf(b, " <- %s", r.Organ)
	}
	if c.opts.times {
		fmt.Fprintf(b, " +%s", r.Event.Timestamp().Sub(c.t0))
	}
	if k := r.Event.Key(); k != "" {
		fmt.Fprintf(b, " key=%q", c.text(k))
	}
	h := r.Event.Headers()
	for _, name := range slices.Sorted(maps.Keys(h)) {
		if !traceHeaders[name] {
			fmt.Fprintf(b, " %s=%q", name, c.text(h[name]))
		}
	}
	fmt.Fprintf(b, " %s\n", c.text(string(r.Event.Payload())))
}

func newCanon() *canon { return &canon{names: map[string]string{}, seqs: map[string]int{}} }

// name returns the canonical name of an event id, giving it the next eN
// the first time.
func (c *canon) name(id string) string {
	id = strings.ToLower(id)
	if n, ok := c.names[id]; ok {
		return n
	}
	c.seqs[id] = len(c.seqs) + 1
	n := "e" + strconv.Itoa(c.seqs[id])
	c.names[id] = n
	return n
}

// text rewrites the ids and times in s.
func (c *canon) text(s string) string {
	s = uuidRE.ReplaceAllStringFunc(s, func(u string) string {
		u = strings.ToLower(u)
		if n, ok := c.names[u]; ok {
			return n
		}
		c.other++
		n := fmt.Sprintf("u%d", c.other)
		c.names[u] = n
		return n
	})
	return rfc3339RE.ReplaceAllStringFunc(s, func(ts string) string {
		if !c.opts.times {
			return "<time>"
		}
		t, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			return "<time>"
		}
		return "+" + t.Sub(c.t0).String()
	})
}

func (c *canon) compareDeadLetters(a, b core.DeadLetter) int {
	return cmp.Or(
		cmp.Compare(c.seq(a.Event.ID()), c.seq(b.Event.ID())),
		cmp.Compare(a.Organ, b.Organ),
		cmp.Compare(a.Reason, b.Reason))
}

func (c *canon) compareCalls(a, b Call) int {
	return cmp.Or(
		cmp.Compare(c.seq(a.Event), c.seq(b.Event)),
		cmp.Compare(a.Organ, b.Organ),
		cmp.Compare(a.Attempt, b.Attempt))
}

// seq is the number of an event's canonical name, for sorting (0 for an
// id the trace does not hold).
func (c *canon) seq(id string) int { return c.seqs[strings.ToLower(id)] }

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
