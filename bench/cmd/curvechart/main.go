// Command curvechart draws a latency curve, the JSON lines that go tool
// mage benchCurve writes (bench.CurvePoint), as an SVG chart:
//
//	go run ./bench/cmd/curvechart -in docs/bench/curve.jsonl -out docs/bench/curve.svg
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/necrostack/necrostack/bench"
)

func main() { os.Exit(run(os.Args[1:], os.Stderr)) }

// run draws the chart and returns the exit code: 0 done, 1 the input could
// not be read or drawn, 2 a bad command line.
func run(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("curvechart", flag.ContinueOnError)
	fs.SetOutput(stderr)
	in := fs.String("in", "", "the curve's JSON lines (required)")
	out := fs.String("out", "", "the SVG file to write (required)")
	title := fs.String("title", "Latency against throughput, organs waiting 1 ms", "the chart's title")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	switch {
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "curvechart: unexpected arguments %q\n", fs.Args())
		return 2
	case *in == "" || *out == "":
		fmt.Fprintln(stderr, "curvechart: -in and -out are required")
		return 2
	}
	f, err := os.Open(*in)
	if err != nil {
		fmt.Fprintf(stderr, "curvechart: %v\n", err)
		return 1
	}
	points, err := bench.ReadCurve(f)
	f.Close()
	if err != nil {
		fmt.Fprintf(stderr, "curvechart: %s: %v\n", *in, err)
		return 1
	}
	var svg bytes.Buffer
	if err := bench.WriteCurveSVG(&svg, points, *title); err != nil {
		fmt.Fprintf(stderr, "curvechart: %s: %v\n", *in, err)
		return 1
	}
	if err := os.WriteFile(*out, svg.Bytes(), 0o644); err != nil {
		fmt.Fprintf(stderr, "curvechart: %v\n", err)
		return 1
	}
	return 0
}
