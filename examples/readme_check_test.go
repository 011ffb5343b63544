package examples

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const sampleGo = `package x

import "fmt"

// Hello says hello.
func Hello() {
	fmt.Println("hi")

	// Output: hi
}

type T struct{}

func (T) M() {}
`

// TestCheckREADME shows that the README check fails on what it is meant to
// catch, and passes on blocks that match their code.
func TestCheckREADME(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "x", "a.go"), []byte(sampleGo), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "x", "d.mmd"), []byte("flowchart TD\n  e1 --> e2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		readme string
		want   []string // a substring of each problem, in order; none: no problem
	}{
		{"declaration", "# T\n\n<!-- code: x/a.go Hello -->\n```go\n// Hello says hello.\nfunc Hello() {\n\tfmt.Println(\"hi\")\n\n\t// Output: hi\n}\n```\n", nil},
		{"body", "<!-- code: x/a.go Hello body -->\n\n```go\nfmt.Println(\"hi\")\n\n// Output: hi\n```\n", nil},
		{"method", "<!-- code: x/a.go T.M -->\n```go\nfunc (T) M() {}\n```\n", nil},
		{"whole file", "<!-- code: x/a.go -->\n```go\n" + sampleGo + "```\n", nil},
		{"a drawing", "<!-- code: x/d.mmd -->\n```mermaid\nflowchart TD\n  e1 --> e2\n```\n", nil},
		{"a drawing that drifted", "<!-- code: x/d.mmd -->\n```mermaid\nflowchart TD\n  e1 --> e3\n```\n",
			[]string{"README.md:2: the block differs from x/d.mmd (- README, + source):\n  flowchart TD\n-   e1 --> e3\n+   e1 --> e2"}},
		{"a drawing marked by a name", "<!-- code: x/d.mmd Hello -->\n```mermaid\n```\n", []string{"a code marker (x/d.mmd Hello) before a \"mermaid\" block"}},
		{"other blocks are free", "```sh\ngo test ./...\n```\n\n```\nplain\n```\n", nil},
		{"drift", "<!-- code: x/a.go Hello body -->\n```go\nfmt.Println(\"hello\")\n\n// Output: hi\n```\n",
			[]string{"README.md:2: the block differs from x/a.go Hello body (- README, + source):\n- fmt.Println(\"hello\")\n+ fmt.Println(\"hi\")\n  \n  // Output: hi\n"}},
		{"unmarked", "text\n\n```go\nx := 1\n```\n", []string{"README.md:3: a Go block with no <!-- code:"}},
		{"unmarked golang", "```golang\nx := 1\n```\n", []string{"README.md:1: a Go block with no"}},
		{"marker far from its block", "<!-- code: x/a.go T.M -->\nsome text\n```go\nfunc (T) M() {}\n```\n",
			[]string{"README.md:1: code marker \"x/a.go T.M\" is not followed by a code block", "README.md:3: a Go block with no"}},
		{"marker at the end", "<!-- code: x/a.go T.M -->\n", []string{"README.md:1: code marker \"x/a.go T.M\" is not followed by a code block"}},
		{"marker before another language", "<!-- code: x/a.go T.M -->\n```sh\nls\n```\n", []string{"README.md:2: a code marker (x/a.go T.M) before a \"sh\" block"}},
		{"unknown name", "<!-- code: x/a.go Goodbye -->\n```go\n```\n", []string{"x/a.go declares no Goodbye"}},
		{"unknown file", "<!-- code: x/b.go -->\n```go\n```\n", []string{"README.md:2: marker \"x/b.go\": open"}},
		{"body of a type", "<!-- code: x/a.go T body -->\n```go\n```\n", []string{"T is not a function with a body"}},
		{"bad marker", "<!-- code: x/a.go Hello all -->\n```go\n```\n", []string{`want "FILE", "FILE NAME" or "FILE NAME body"`}},
		{"unclosed", "<!-- code: x/a.go T.M -->\n```go\nfunc (T) M() {}\n", []string{"README.md:2: code block never closed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			problems, updated := checkREADME(root, []byte(tt.readme))
			if len(problems) != len(tt.want) {
				t.Fatalf("got %d problems, want %d:\n%v", len(problems), len(tt.want), problems)
			}
			for i, p := range problems {
				if !strings.Contains(p.String(), tt.want[i]) {
					t.Errorf("problem %d:\n%s\nwant it to contain:\n%s", i, p, tt.want[i])
				}
			}
			if len(tt.want) == 0 && string(updated) != tt.readme {
				t.Errorf("a README without drift was rewritten:\n%s", updated)
			}
		})
	}
}

// With -update, a drifted block is replaced by its source, and nothing else
// changes.
func TestCheckREADMEUpdate(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "x", "a.go"), []byte(sampleGo), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "x", "d.mmd"), []byte("flowchart TD\n  e1 --> e2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	readme := "# A\n\n<!-- code: x/a.go T.M -->\n```go\nfunc (T) M() { old() }\n```\n\nmiddle\n\n<!-- code: x/a.go Hello body -->\n```go\nold\n```\nend\n"
	want := "# A\n\n<!-- code: x/a.go T.M -->\n```go\nfunc (T) M() {}\n```\n\nmiddle\n\n<!-- code: x/a.go Hello body -->\n```go\nfmt.Println(\"hi\")\n\n// Output: hi\n```\nend\n"
	problems, updated := checkREADME(root, []byte(readme))
	if len(problems) != 2 {
		t.Errorf("problems: %v, want two", problems)
	}
	if string(updated) != want {
		t.Errorf("updated:\n%s\nwant:\n%s", updated, want)
	}
	if problems, _ := checkREADME(root, updated); len(problems) != 0 {
		t.Errorf("the updated README still has problems: %v", problems)
	}
}
