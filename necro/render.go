package main

import (
	"fmt"
	"html"
	"io"
	"strings"
)

// picture is what trace and graph draw: boxes and arrows, in the order
// they were found.
type picture struct {
	nodes []pnode
	edges []pedge
}

type pnode struct {
	id    string
	lines []string // the label, a line each
	dead  bool     // a dead letter: drawn red
}

type pedge struct {
	from, to string
	label    string
	dashed   bool
}

func (p *picture) node(id string, dead bool, lines ...string) {
	p.nodes = append(p.nodes, pnode{id: id, lines: lines, dead: dead})
}

func (p *picture) edge(from, to, label string, dashed bool) {
	p.edges = append(p.edges, pedge{from: from, to: to, label: label, dashed: dashed})
}

// render writes p in format: mermaid, dot or svg.
func (p *picture) render(w io.Writer, format string) error {
	switch format {
	case "mermaid":
		return p.mermaid(w)
	case "dot":
		return p.dot(w)
	case "svg":
		return p.svg(w)
	}
	return usageError{fmt.Errorf("--format %q: want text, json, mermaid, dot or svg", format)}
}

func (p *picture) mermaid(w io.Writer) error {
	var b strings.Builder
	b.WriteString("graph TD\n")
	ids := p.shortIDs()
	for _, n := range p.nodes {
		lines := make([]string, len(n.lines))
		for i, l := range n.lines {
			lines[i] = mermaidText(l)
		}
		label := strings.Join(lines, "<br/>")
		if n.dead {
			fmt.Fprintf(&b, "  %s([\"%s\"])\n  style %s fill:#fde2e2,stroke:#c0392b\n", ids[n.id], label, ids[n.id])
		} else {
			fmt.Fprintf(&b, "  %s[\"%s\"]\n", ids[n.id], label)
		}
	}
	for _, e := range p.edges {
		arrow := "-->"
		if e.dashed {
			arrow = "-.->"
		}
		if e.label != "" {
			fmt.Fprintf(&b, "  %s %s|%s| %s\n", ids[e.from], arrow, mermaidText(e.label), ids[e.to])
		} else {
			fmt.Fprintf(&b, "  %s %s %s\n", ids[e.from], arrow, ids[e.to])
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func (p *picture) dot(w io.Writer) error {
	var b strings.Builder
	b.WriteString("digraph necrostack {\n  rankdir=TB;\n  node [shape=box, style=rounded, fontname=\"Helvetica\"];\n")
	q := func(s string) string {
		return `"` + strings.ReplaceAll(strings.ReplaceAll(printable(s), `\`, `\\`), `"`, `\"`) + `"`
	}
	for _, n := range p.nodes {
		attrs := "label=" + q(printable(strings.Join(n.lines, " / ")))
		if n.dead {
			attrs += ", color=\"#c0392b\", fontcolor=\"#c0392b\", shape=octagon"
		}
		fmt.Fprintf(&b, "  %s [%s];\n", q(n.id), attrs)
	}
	for _, e := range p.edges {
		attrs := []string{}
		if e.label != "" {
			attrs = append(attrs, "label="+q(e.label))
		}
		if e.dashed {
			attrs = append(attrs, "style=dashed")
		}
		fmt.Fprintf(&b, "  %s -> %s", q(e.from), q(e.to))
		if len(attrs) > 0 {
			fmt.Fprintf(&b, " [%s]", strings.Join(attrs, ", "))
		}
		b.WriteString(";\n")
	}
	b.WriteString("}\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// shortIDs names the nodes n0, n1, … for Mermaid.
func (p *picture) shortIDs() map[string]string {
	ids := make(map[string]string, len(p.nodes))
	for i, n := range p.nodes {
		ids[n.id] = fmt.Sprintf("n%d", i)
	}
	return ids
}

// Layout of the SVG: each node in a layer (its distance from a node with
// no arrow in), left to right in the order found.
const (
	boxW, boxH     = 190, 46
	gapX, gapY     = 24, 44
	margin, lineDY = 16, 15
)

// layout returns each node's layer and position in it, and the width of
// the widest layer.
func (p *picture) layout() (pos map[string][2]int, layers, widest int) {
	in := map[string]int{}
	out := map[string][]string{}
	for _, e := range p.edges {
		in[e.to]++
		out[e.from] = append(out[e.from], e.to)
	}
	layer := map[string]int{}
	var queue []string
	for _, n := range p.nodes {
		if in[n.id] == 0 {
			layer[n.id] = 0
			queue = append(queue, n.id)
		}
	}
	for len(queue) > 0 {
		id := queue[0]
		queue = queue[1:]
		for _, to := range out[id] {
			if _, seen := layer[to]; !seen {
				layer[to] = layer[id] + 1
				queue = append(queue, to)
			}
		}
	}
	for _, n := range p.nodes { // in a cycle only: put it first
		if _, ok := layer[n.id]; !ok {
			layer[n.id] = 0
		}
	}
	count := map[int]int{}
	pos = make(map[string][2]int, len(p.nodes))
	for _, n := range p.nodes {
		l := layer[n.id]
		pos[n.id] = [2]int{l, count[l]}
		count[l]++
		layers = max(layers, l+1)
		widest = max(widest, count[l])
	}
	return pos, layers, widest
}

func (p *picture) svg(w io.Writer) error {
	pos, layers, widest := p.layout()
	width := 2*margin + widest*boxW + (widest-1)*gapX
	height := 2*margin + layers*boxH + (layers-1)*gapY
	at := func(id string) (x, y int) {
		lp := pos[id]
		return margin + lp[1]*(boxW+gapX), margin + lp[0]*(boxH+gapY)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="Helvetica, Arial, sans-serif" font-size="12">`+"\n", width, height, width, height)
	b.WriteString(`<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>` + "\n")
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#ffffff"/>`+"\n", width, height)
	for _, e := range p.edges {
		x1, y1 := at(e.from)
		x2, y2 := at(e.to)
		x1, y1, x2 = x1+boxW/2, y1+boxH, x2+boxW/2
		dash := ""
		if e.dashed {
			dash = ` stroke-dasharray="5,4"`
		}
		if y2 <= y1 { // back up a layer (a cycle): go round the side
			fmt.Fprintf(&b, `<path d="M%d,%d C%d,%d %d,%d %d,%d" fill="none" stroke="#555"%s marker-end="url(#arrow)"/>`+"\n",
				x1+boxW/2, y1-boxH/2, x1+boxW/2+gapX, y1, x2+boxW/2+gapX, y2, x2+boxW/2, y2+boxH/2, dash)
			continue
		}
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#555"%s marker-end="url(#arrow)"/>`+"\n", x1, y1, x2, y2, dash)
		if e.label != "" {
			fmt.Fprintf(&b, `<text x="%d" y="%d" fill="#333" text-anchor="middle" font-size="11">%s</text>`+"\n", (x1+x2)/2+4, (y1+y2)/2+4, html.EscapeString(printable(e.label)))
		}
	}
	for _, n := range p.nodes {
		x, y := at(n.id)
		fill, stroke := "#eef3fb", "#4a6fa5"
		if n.dead {
			fill, stroke = "#fde2e2", "#c0392b"
		}
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" rx="6" fill="%s" stroke="%s"/>`+"\n", x, y, boxW, boxH, fill, stroke)
		for i, line := range n.lines {
			weight := ""
			if i == 0 {
				weight = ` font-weight="bold"`
			}
			top := y + boxH/2 + 4 - (len(n.lines)-1)*lineDY/2 // the lines centred in the box
			fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle"%s>%s</text>`+"\n", x+boxW/2, top+i*lineDY, weight, html.EscapeString(clip(printable(line), 30)))
		}
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// mermaidText is s as Mermaid label text: its entity codes for what its
// syntax or HTML would read, control characters as spaces.
func mermaidText(s string) string {
	return strings.NewReplacer(`"`, "#quot;", "<", "#lt;", ">", "#gt;", "|", "#124;", "&", "#amp;").Replace(printable(s))
}

// printable is s with control characters (not allowed in XML, breaking a
// line in Mermaid or DOT) as spaces.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r >= 0xfffe && r <= 0xffff {
			return ' '
		}
		return r
	}, s)
}

// clip shortens s to n runes.
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
