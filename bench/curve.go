package bench

import (
	"bufio"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"math"
	"slices"
	"strings"
)

// CurvePoint is one line of a latency curve (go tool mage benchCurve): a
// run's Result, the series it belongs to and the load it was run at.
type CurvePoint struct {
	Result
	// Series names the system and backend, e.g. "necrostack/redis".
	Series string `json:"series"`
	// LoadPct is the offered rate as a percentage of the series' measured
	// maximum (Result.Rate rituals/s); 0 for the closed-loop run that
	// measured that maximum.
	LoadPct float64 `json:"load_pct"`
}

// ReadCurve reads CurvePoints, one JSON object a line; blank lines are
// skipped. It names the line of the first one it cannot read.
func ReadCurve(r io.Reader) ([]CurvePoint, error) {
	var points []CurvePoint
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var p CurvePoint
		if err := json.Unmarshal([]byte(line), &p); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		if p.Series == "" {
			return nil, fmt.Errorf("line %d: no series", n)
		}
		points = append(points, p)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return points, nil
}

// curveColors are the series' colours, in order of first appearance.
var curveColors = []string{"#1f6feb", "#d1242f", "#1a7f37", "#9a6700", "#8250df", "#57606a"}

// Chart geometry, in SVG user units.
const (
	chartW, chartH               = 960, 560
	plotL, plotR, plotT, plotB   = 80, 700, 56, 490
	legendX, legendY, legendLine = 724, 80, 22
)

// WriteCurveSVG draws the open-loop points (LoadPct > 0) as a chart:
// latency (p50 dashed, p99 solid, both on a log scale) against the rate
// achieved (handled events a second, log scale), one colour a series, each
// point labelled with its load. The legend gives each series' closed-loop
// maximum when the points include it.
func WriteCurveSVG(w io.Writer, points []CurvePoint, title string) error {
	type series struct {
		name   string
		color  string
		max    float64 // closed-loop handled/s; 0 if absent
		points []CurvePoint
	}
	var all []*series
	byName := map[string]*series{}
	for _, p := range points {
		s := byName[p.Series]
		if s == nil {
			s = &series{name: p.Series, color: curveColors[len(all)%len(curveColors)]}
			byName[p.Series] = s
			all = append(all, s)
		}
		if p.LoadPct == 0 {
			s.max = p.HandledPerS
			continue
		}
		s.points = append(s.points, p)
	}
	xmin, xmax, ymin, ymax := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for _, s := range all {
		slices.SortFunc(s.points, func(a, b CurvePoint) int { return cmp.Compare(a.LoadPct, b.LoadPct) })
		for _, p := range s.points {
			if p.HandledPerS <= 0 || p.P50Ms <= 0 || p.P99Ms <= 0 {
				return fmt.Errorf("series %s at %.0f%%: handled/s, p50 and p99 must be positive", s.name, p.LoadPct)
			}
			xmin, xmax = min(xmin, p.HandledPerS), max(xmax, p.HandledPerS)
			ymin, ymax = min(ymin, p.P50Ms), max(ymax, p.P99Ms)
		}
	}
	if math.IsInf(xmin, 1) {
		return errors.New("no open-loop points (load_pct > 0) to draw")
	}
	x := logAxis{lo: niceBelow(xmin), hi: niceAbove(xmax), from: plotL, to: plotR}
	y := logAxis{lo: niceBelow(ymin), hi: niceAbove(ymax), from: plotB, to: plotT}

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="13">`+"\n", chartW, chartH, chartW, chartH)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#ffffff"/>`+"\n", chartW, chartH)
	fmt.Fprintf(&b, `<text x="%d" y="30" font-size="16" font-weight="bold">%s</text>`+"\n", plotL, html.EscapeString(title))
	// Grid and ticks: 1, 2 and 5 of each decade.
	for _, v := range x.ticks() {
		px := x.at(v)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#d0d7de" stroke-width="1"/>`+"\n", px, plotT, px, plotB)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" fill="#57606a">%s</text>`+"\n", px, plotB+18, shortNumber(v))
	}
	for _, v := range y.ticks() {
		py := y.at(v)
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#d0d7de" stroke-width="1"/>`+"\n", plotL, py, plotR, py)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end" fill="#57606a">%s</text>`+"\n", plotL-8, py+4, shortNumber(v))
	}
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#57606a"/>`+"\n", plotL, plotT, plotR-plotL, plotB-plotT)
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">handled events per second achieved (log scale)</text>`+"\n", (plotL+plotR)/2, plotB+44)
	fmt.Fprintf(&b, `<text transform="translate(24 %d) rotate(-90)" text-anchor="middle">enqueue → omen latency, ms (log scale)</text>`+"\n", (plotT+plotB)/2)
	for _, s := range all {
		for _, q := range []struct {
			ms   func(CurvePoint) float64
			dash string
		}{
			{func(p CurvePoint) float64 { return p.P50Ms }, ` stroke-dasharray="6 4"`},
			{func(p CurvePoint) float64 { return p.P99Ms }, ""},
		} {
			var path []string
			for _, p := range s.points {
				path = append(path, fmt.Sprintf("%.1f,%.1f", x.at(p.HandledPerS), y.at(q.ms(p))))
			}
			fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2"%s points="%s"/>`+"\n", s.color, q.dash, strings.Join(path, " "))
		}
		for _, p := range s.points {
			px, py := x.at(p.HandledPerS), y.at(p.P99Ms)
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s"><title>%s at %.0f%%: %.0f handled/s, p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms</title></circle>`+"\n",
				px, py, s.color, html.EscapeString(s.name), p.LoadPct, p.HandledPerS, p.P50Ms, p.P99Ms, p.P999Ms)
			if labelled[p.LoadPct] {
				fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="11" fill="%s">%.0f%%</text>`+"\n", px+6, py-6, s.color, p.LoadPct)
			}
		}
	}
	// Legend.
	ly := legendY
	for _, s := range all {
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="3"/>`+"\n", legendX, ly-4, legendX+24, ly-4, s.color)
		fmt.Fprintf(&b, `<text x="%d" y="%d">%s</text>`+"\n", legendX+32, ly, html.EscapeString(s.name))
		if s.max > 0 {
			ly += legendLine - 6
			fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="11" fill="#57606a">max %s handled/s</text>`+"\n", legendX+32, ly, shortNumber(s.max))
		}
		ly += legendLine
	}
	ly += legendLine / 2
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#24292f" stroke-width="2"/>`+"\n", legendX, ly-4, legendX+24, ly-4)
	fmt.Fprintf(&b, `<text x="%d" y="%d">p99</text>`+"\n", legendX+32, ly)
	ly += legendLine
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#24292f" stroke-width="2" stroke-dasharray="6 4"/>`+"\n", legendX, ly-4, legendX+24, ly-4)
	fmt.Fprintf(&b, `<text x="%d" y="%d">p50</text>`+"\n", legendX+32, ly)
	ly += legendLine
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="11" fill="#57606a">labels: offered load, %% of max</text>`+"\n", legendX, ly)
	ly += legendLine - 6
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="11" fill="#57606a">(every point has a tooltip)</text>`+"\n", legendX, ly)
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// labelled are the loads whose points carry a label; the others have only
// their tooltip, so that the labels do not pile up at the knee.
var labelled = map[float64]bool{10: true, 50: true, 100: true, 120: true}

// logAxis maps [lo, hi] onto [from, to] logarithmically.
type logAxis struct {
	lo, hi   float64
	from, to float64
}

func (a logAxis) at(v float64) float64 {
	f := (math.Log10(v) - math.Log10(a.lo)) / (math.Log10(a.hi) - math.Log10(a.lo))
	return a.from + f*(a.to-a.from)
}

// ticks returns 1, 2 and 5 times each power of ten within the axis.
func (a logAxis) ticks() []float64 {
	var out []float64
	for d := math.Pow(10, math.Floor(math.Log10(a.lo)+1e-9)); d < a.hi*1.001; d *= 10 {
		for _, m := range []float64{1, 2, 5} {
			if v := d * m; v >= a.lo*0.999 && v <= a.hi*1.001 {
				out = append(out, v)
			}
		}
	}
	return out
}

// niceBelow and niceAbove round v down and up to 1, 2 or 5 times a power
// of ten.
func niceBelow(v float64) float64 {
	d := math.Pow(10, math.Floor(math.Log10(v)+1e-9))
	for _, m := range []float64{5, 2, 1} {
		if d*m <= v*1.000001 {
			return d * m
		}
	}
	return d
}

func niceAbove(v float64) float64 {
	d := math.Pow(10, math.Floor(math.Log10(v)+1e-9))
	for _, m := range []float64{1, 2, 5, 10} {
		if d*m >= v*0.999999 {
			return d * m
		}
	}
	return 10 * d
}

// shortNumber writes v as 0.5, 20, 5k or 2M.
func shortNumber(v float64) string {
	switch {
	case v >= 1e6:
		return trimZero(v/1e6) + "M"
	case v >= 1e3:
		return trimZero(v/1e3) + "k"
	}
	return trimZero(v)
}

func trimZero(v float64) string {
	s := fmt.Sprintf("%.1f", v)
	return strings.TrimSuffix(s, ".0")
}
