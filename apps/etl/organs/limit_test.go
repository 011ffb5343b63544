package organs_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/necrostack/necrostack/apps/etl/organs"
	"github.com/necrostack/necrostack/core"
)

// TestEventSizes checks the choice of MaxEventBytes: the largest text files
// the Extractor accepts fit in it, at every step of the chain.
func TestEventSizes(t *testing.T) {
	t.Parallel()
	// Rows of 83 bytes, newline included, so that DefaultMaxRows of them
	// come close to DefaultMaxBytes; backslashes cost the most: JSON
	// escapes them, and a dropped row's detail quotes them once more.
	valid := "2024-10-31," + strings.Repeat(`\`, 33) + "," + strings.Repeat(`\`, 33) + ",1,1\n"
	badDate := strings.Repeat(`\`, 74) + ",a,b,1,1\n"
	header := strings.Join(organs.Columns, ",") + "\n"
	if size := len(header) + organs.DefaultMaxRows*83; len(valid) != 83 || len(badDate) != 83 || size > organs.DefaultMaxBytes {
		t.Fatalf("rows of %d and %d bytes, a file of %d; want 83 and at most %d", len(valid), len(badDate), size, organs.DefaultMaxBytes)
	}
	// sizes runs the chain on a file of n rows and returns the size of each
	// event it emits. Every row but the first is the same, so sizes grow
	// linearly with n: two small files tell the size at DefaultMaxRows,
	// which is too slow to build under the race detector.
	sizes := func(t *testing.T, n int, row func(i int) string) []int {
		var b strings.Builder
		b.WriteString(header)
		for i := range n {
			b.WriteString(row(i))
		}
		path := filepath.Join(t.TempDir(), "big.csv")
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		e := organs.ETLStart.MustNew(organs.Job{Path: path})
		var out []int
		for _, o := range organs.Chain(io.Discard)[:3] {
			emitted, err := o.Handle(context.Background(), e)
			if err != nil {
				t.Fatalf("%s: %v", core.OrganName(o), err)
			}
			e = emitted[0]
			wire, _ := e.MarshalJSON()
			out = append(out, len(wire))
		}
		return out
	}
	tests := []struct {
		name string
		row  func(i int) string
	}{
		{"valid rows", func(int) string { return valid }},
		{"dropped rows", func(i int) string {
			if i == 0 {
				return valid
			}
			return badDate
		}},
	}
	mib := func(n int) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			const n1, n2 = 1000, 2000
			s1, s2 := sizes(t, n1, tt.row), sizes(t, n2, tt.row)
			for i, typ := range []string{organs.RawDataLoaded.Type(), organs.DataCleaned.Type(), organs.DataTransformed.Type()} {
				// Plus 2 bytes a row: line numbers up to 100,001 have
				// two more digits than those up to 2,001.
				atMax := s2[i] + (s2[i]-s1[i])*(organs.DefaultMaxRows-n2)/(n2-n1) + 2*organs.DefaultMaxRows
				t.Logf("%s at %d rows: %s", typ, organs.DefaultMaxRows, mib(atMax))
				if atMax > organs.MaxEventBytes {
					t.Errorf("%s at %d rows: %s, over MaxEventBytes (%s)", typ, organs.DefaultMaxRows, mib(atMax), mib(organs.MaxEventBytes))
				}
			}
		})
	}
}

// An event over the limit fails its organ permanently instead of reaching
// the backend; the organ keeps its name, and events within the limit pass.
func TestLimitEventBytes(t *testing.T) {
	t.Parallel()
	chain := organs.LimitEventBytes(organs.Chain(io.Discard), 1024)
	out, err := chain[0].Handle(context.Background(), organs.ETLStart.MustNew(organs.Job{}))
	if !errors.Is(err, core.ErrPermanent) || out != nil {
		t.Fatalf("Handle = %d events, %v; want none and a permanent error", len(out), err)
	}
	if want := "RAW_DATA_LOADED would be "; !strings.HasPrefix(err.Error(), want) || !strings.HasSuffix(err.Error(), "over the 1.0 KiB limit of an event on Redis: split the input") {
		t.Errorf("error %q, want it to start %q and name the limit", err, want)
	}
	for i, want := range []string{"Extractor", "Cleaner", "Transformer", "Reporter"} {
		if name := core.OrganName(chain[i]); name != want {
			t.Errorf("wrapped organ %d named %q, want %q", i, name, want)
		}
	}

	chain = organs.LimitEventBytes(organs.Chain(io.Discard), organs.MaxEventBytes)
	out, err = chain[0].Handle(context.Background(), organs.ETLStart.MustNew(organs.Job{}))
	if err != nil || len(out) != 1 || out[0].Type() != organs.RawDataLoaded.Type() {
		t.Errorf("within the limit: Handle = %v, %v; want one RAW_DATA_LOADED", out, err)
	}
}
