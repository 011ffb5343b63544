package bench

import (
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"testing"
)

func curveLine(series string, load, handled, p50, p99 float64) string {
	return `{"series":"` + series + `","load_pct":` + strconv.FormatFloat(load, 'f', -1, 64) +
		`,"handled_per_s":` + strconv.FormatFloat(handled, 'f', -1, 64) +
		`,"p50_ms":` + strconv.FormatFloat(p50, 'f', -1, 64) + `,"p99_ms":` + strconv.FormatFloat(p99, 'f', -1, 64) + `,"p999_ms":1}`
}

func TestReadCurve(t *testing.T) {
	in := curveLine("necrostack/redis", 0, 60000, 50, 70) + "\n\n" + curveLine("necrostack/redis", 50, 30000, 5, 9) + "\n"
	points, err := ReadCurve(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(points) != 2 || points[1].LoadPct != 50 || points[1].HandledPerS != 30000 || points[1].P99Ms != 9 || points[0].Series != "necrostack/redis" {
		t.Fatalf("read %+v", points)
	}
	for _, bad := range []struct{ in, want string }{
		{curveLine("a", 10, 1, 1, 1) + "\n{not json\n", "line 2"},
		{`{"load_pct":10}`, "line 1: no series"},
	} {
		if _, err := ReadCurve(strings.NewReader(bad.in)); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("ReadCurve(%q) = %v, want an error naming %q", bad.in, err, bad.want)
		}
	}
}

// The chart is well-formed SVG with a p50 and a p99 line per series, a
// point per open-loop run, higher latencies drawn higher and larger rates
// further right; the closed-loop run is only in the legend.
func TestWriteCurveSVG(t *testing.T) {
	in := strings.Join([]string{
		curveLine("necrostack/redis", 0, 60000, 50, 70),
		curveLine("necrostack/redis", 10, 6000, 4.1, 5),
		curveLine("necrostack/redis", 50, 30000, 4.5, 8),
		curveLine("necrostack/redis", 120, 58000, 900, 1800),
		curveLine("watermill/redis", 10, 1000, 30, 60),
		curveLine("watermill/redis", 50, 5000, 40, 90),
	}, "\n")
	points, err := ReadCurve(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := WriteCurveSVG(&b, points, "a <title> & more"); err != nil {
		t.Fatal(err)
	}
	type circle struct {
		CX    float64 `xml:"cx,attr"`
		CY    float64 `xml:"cy,attr"`
		Fill  string  `xml:"fill,attr"`
		Title string  `xml:"title"`
	}
	var circles []circle
	lines := 0
	dec := xml.NewDecoder(strings.NewReader(b.String()))
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed SVG: %v\n%s", err, b.String())
		}
		if se, ok := tok.(xml.StartElement); ok {
			switch se.Name.Local {
			case "polyline":
				lines++
			case "circle":
				var c circle
				if err := dec.DecodeElement(&c, &se); err != nil {
					t.Fatal(err)
				}
				circles = append(circles, c)
			}
		}
	}
	if lines != 4 {
		t.Errorf("%d lines, want a p50 and a p99 line for each of 2 series", lines)
	}
	if len(circles) != 5 {
		t.Fatalf("%d points drawn, want the 5 open-loop runs", len(circles))
	}
	ns := circles[:3] // necrostack/redis at 10, 50, 120 %
	if !(ns[0].CX < ns[1].CX && ns[1].CX < ns[2].CX) {
		t.Errorf("larger rates not further right: %+v", ns)
	}
	if !(ns[0].CY > ns[1].CY && ns[1].CY > ns[2].CY) {
		t.Errorf("higher p99 not drawn higher: %+v", ns)
	}
	if ns[0].Fill == circles[3].Fill {
		t.Error("two series in one colour")
	}
	if !strings.Contains(circles[2].Title, "120%") || !strings.Contains(circles[2].Title, "p99 1800.00 ms") {
		t.Errorf("point title %q does not say its load and latency", circles[2].Title)
	}
	if !strings.Contains(b.String(), "max 60k handled/s") {
		t.Error("the legend does not give the closed-loop maximum")
	}
	if err := WriteCurveSVG(io.Discard, points[:1], "only the maximum"); err == nil {
		t.Error("a chart with no open-loop point drew without error")
	}
}

func TestNiceBounds(t *testing.T) {
	for _, c := range []struct{ v, below, above float64 }{
		{913, 500, 1000}, {10972, 10000, 20000}, {1, 1, 1}, {0.37, 0.2, 0.5}, {126009, 100000, 200000}, {3.2, 2, 5},
	} {
		if got := niceBelow(c.v); math.Abs(got-c.below) > 1e-9*c.below {
			t.Errorf("niceBelow(%v) = %v, want %v", c.v, got, c.below)
		}
		if got := niceAbove(c.v); math.Abs(got-c.above) > 1e-9*c.above {
			t.Errorf("niceAbove(%v) = %v, want %v", c.v, got, c.above)
		}
	}
	a := logAxis{lo: 500, hi: 20000}
	if got := fmt.Sprint(a.ticks()); got != "[500 1000 2000 5000 10000 20000]" {
		t.Errorf("ticks of 500..20000: %s", got)
	}
}
