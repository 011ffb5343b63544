package necrotest

import (
	"fmt"
	"slices"
	"strings"
)

// Mermaid returns the chain as a Mermaid flowchart (GitHub, GitLab and
// most Markdown viewers draw it): a node for each event, named as in the
// canonical form (e1, e2 …) with its type, an arrow from each event to
// those emitted for it labelled with the organ that emitted them, and a
// red node for each dead letter. Golden's failures include it.
func (tr *Trace) Mermaid() string {
	c := newCanon()
	order := tr.canonicalOrder(c)
	var b strings.Builder
	b.WriteString("flowchart TD\n")
	for _, i := range order {
		r := tr.Records[i]
		fmt.Fprintf(&b, "  %s[\"%s %s\"]\n", c.name(r.Event.ID()), c.name(r.Event.ID()), mermaidText(r.Event.Type()))
	}
	for _, i := range order {
		r := tr.Records[i]
		if _, ok := tr.index[r.Parent]; r.Parent == "" || !ok {
			continue
		}
		arrow := "-->"
		if r.Organ != "" {
			arrow = fmt.Sprintf("-->|\"%s\"|", mermaidText(r.Organ))
		}
		fmt.Fprintf(&b, "  %s %s %s\n", c.name(r.Parent), arrow, c.name(r.Event.ID()))
	}
	for k, dl := range slices.SortedStableFunc(slices.Values(tr.DeadLetters), c.compareDeadLetters) {
		who := dl.Organ
		if who == "" {
			who = "no organ"
		}
		fmt.Fprintf(&b, "  d%d{{\"✗ %s: %s, %d attempts\"}}:::dead\n", k+1, mermaidText(who), mermaidText(dl.Reason), dl.Attempts)
		fmt.Fprintf(&b, "  %s -.-> d%d\n", c.name(dl.Event.ID()), k+1)
	}
	if len(tr.DeadLetters) > 0 {
		b.WriteString("  classDef dead fill:#fdd,stroke:#c00,color:#600\n")
	}
	return b.String()
}

// mermaidText escapes s for a quoted Mermaid label.
func mermaidText(s string) string {
	return strings.NewReplacer(`"`, "#quot;", "\n", " ", "<", "#lt;", ">", "#gt;").Replace(s)
}
