package necrotest

import (
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// update is the -update flag of the test binary: `go test -update` writes
// the golden files instead of comparing with them, as NECROTEST_UPDATE=1
// does. necrotest defines the flag when it is initialised, unless a package
// initialised before it did (then it reads that one). A test package that
// imports necrotest must not define its own -update, which the flag
// package would refuse (flag redefined: update): it reads necrotest's,
// flag.Lookup("update").
var update = registerUpdate()

func registerUpdate() func() bool {
	var v flag.Value
	if f := flag.Lookup("update"); f != nil {
		v = f.Value
	} else {
		flag.Bool("update", false, "necrotest: write golden files instead of comparing with them")
		v = flag.Lookup("update").Value
	}
	return func() bool { return v.String() == "true" || os.Getenv("NECROTEST_UPDATE") == "1" }
}

// Golden compares the trace's canonical form (see Canonical) with the file
// at path, and fails t with a line diff when they differ or the file is
// missing. Run `go test -update` (or NECROTEST_UPDATE=1) to write the file
// instead; the directories on its path are created. Ids and times are
// canonical, so the file is the same on every run, and it is the same
// whatever order events were handled in, as long as the same events
// descend from the same parents.
func (tr *Trace) Golden(t testing.TB, path string, opts ...CanonOption) {
	t.Helper()
	got := tr.Canonical(opts...)
	if update() {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatalf("necrotest: golden: %v", err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatalf("necrotest: golden: %v", err)
		}
		t.Logf("necrotest: wrote %s", path)
		return
	}
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("necrotest: golden file %s does not exist; run go test -update to write it\ngot:\n%s", path, got)
	}
	if err != nil {
		t.Fatalf("necrotest: golden: %v", err)
	}
	want := strings.ReplaceAll(string(raw), "\r\n", "\n") // a checkout that writes CRLF
	if want != got {
		t.Errorf("necrotest: trace differs from %s (- golden, + this run; go test -update rewrites it):\n%s\nchain:\n%s",
			path, lineDiff(want, got), tr.Mermaid())
	}
}

// lineDiff returns the lines of a and b with those only in a marked "-"
// and those only in b "+", by their longest common subsequence; unchanged
// runs of more than two lines are elided.
func lineDiff(a, b string) string {
	x, y := splitLines(a), splitLines(b)
	if len(x)*len(y) > 4_000_000 { // too long to align: show both
		return "- " + strings.Join(x, "\n- ") + "\n+ " + strings.Join(y, "\n+ ")
	}
	// lcs[i][j] is the length of the LCS of x[i:] and y[j:].
	lcs := make([][]int, len(x)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(y)+1)
	}
	for i := len(x) - 1; i >= 0; i-- {
		for j := len(y) - 1; j >= 0; j-- {
			if x[i] == y[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	if strings.Join(x, "\n") == strings.Join(y, "\n") {
		return "(the same lines; only the final newline differs)"
	}
	var out []string
	var same []string
	flush := func() {
		if len(same) > 2 {
			same = append(same[:1], "  …", same[len(same)-1])
		}
		out = append(out, same...)
		same = same[:0]
	}
	i, j := 0, 0
	for i < len(x) || j < len(y) {
		switch {
		case i < len(x) && j < len(y) && x[i] == y[j]:
			same = append(same, "  "+x[i])
			i++
			j++
		case j < len(y) && (i == len(x) || lcs[i][j+1] >= lcs[i+1][j]):
			flush()
			out = append(out, "+ "+y[j])
			j++
		default:
			flush()
			out = append(out, "- "+x[i])
			i++
		}
	}
	if len(same) > 0 && len(out) > 0 {
		flush()
	}
	return strings.Join(out, "\n")
}

func splitLines(s string) []string {
	s = strings.TrimSuffix(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}
