package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	dir := t.TempDir()
	in, out := filepath.Join(dir, "curve.jsonl"), filepath.Join(dir, "curve.svg")
	line := `{"series":"necrostack/memory","load_pct":50,"handled_per_s":70000,"p50_ms":4.6,"p99_ms":6.1,"p999_ms":7}` + "\n"
	if err := os.WriteFile(in, []byte(line), 0o644); err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	if code := run([]string{"-in", in, "-out", out}, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	svg, err := os.ReadFile(out)
	if err != nil || !strings.HasPrefix(string(svg), "<svg") || !strings.Contains(string(svg), "necrostack/memory") {
		t.Fatalf("wrote %q, %v", svg, err)
	}

	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"-in", in}, 2, "-in and -out are required"},
		{[]string{"-in", in, "-out", out, "extra"}, 2, "unexpected arguments"},
		{[]string{"-bogus"}, 2, "-bogus"},
		{[]string{"-in", filepath.Join(dir, "missing.jsonl"), "-out", out}, 1, "missing.jsonl"},
	} {
		stderr.Reset()
		if code := run(c.args, &stderr); code != c.code || !strings.Contains(stderr.String(), c.want) {
			t.Errorf("run(%q) = %d, %q; want %d and a message with %q", c.args, code, stderr.String(), c.code, c.want)
		}
	}
	bad := filepath.Join(dir, "bad.jsonl")
	if err := os.WriteFile(bad, []byte(line+"{oops\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	stderr.Reset()
	if code := run([]string{"-in", bad, "-out", out}, &stderr); code != 1 || !strings.Contains(stderr.String(), "bad.jsonl: line 2") {
		t.Errorf("a bad line: exit %d, %q; want 1 naming the file and line 2", code, stderr.String())
	}
}
