package examples

import (
	"bytes"
	"cmp"
	"errors"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the README's Go blocks from the code they name")

// TestREADME checks that every Go block of the repository's README.md is
// code that go test compiles and runs, exactly as it stands in its source.
// A block is marked by the line before its fence,
//
//	<!-- code: FILE -->            the whole file
//	<!-- code: FILE NAME -->       the declaration of NAME (a func, Type.Method, type, var or const), with its doc comment
//	<!-- code: FILE NAME body -->  the body of func NAME, one tab less indented (an Example's, with its Output)
//
// A Mermaid block may carry a marker of a whole FILE too (a drawing a test
// writes, such as a golden file), and is then checked against it.
//
// FILE relative to the repository's root. A Go block without a marker fails
// the check, so that no snippet escapes it. After changing the code, copy it
// into the README with
//
//	go test -run TestREADME -update
func TestREADME(t *testing.T) {
	const root = ".."
	path := filepath.Join(root, "README.md")
	readme, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	problems, updated := checkREADME(root, readme)
	if *update && !bytes.Equal(updated, readme) {
		if err := os.WriteFile(path, updated, 0o644); err != nil {
			t.Fatal(err)
		}
		problems, _ = checkREADME(root, updated)
	}
	for _, p := range problems {
		t.Error(p.String())
	}
	if len(problems) > 0 && !*update {
		t.Log("to copy the code into README.md: go test -run TestREADME -update (in examples/)")
	}
}

// block is a fenced code block of the README.
type block struct {
	line       int    // of the opening fence, from 1
	lang       string // the fence's info string, first word
	marker     string // what the marker line before it names; "" for none
	start, end int    // byte offsets of the content, between the fences
	text       string // the content, without its final newline
}

var markerLine = regexp.MustCompile(`^<!--\s*code:\s*(.*?)\s*-->$`)

// checkREADME returns what is wrong with the Go blocks of readme, the files
// they name read from root, and readme with each marked block replaced by
// its source.
func checkREADME(root string, readme []byte) (problems []problem, updated []byte) {
	blocks, problems := fencedBlocks(string(readme))
	updated = append([]byte(nil), readme...)
	for i := len(blocks) - 1; i >= 0; i-- { // from the end, so offsets hold
		b := blocks[i]
		isGo := b.lang == "go" || b.lang == "golang"
		switch {
		case b.lang == "mermaid" && b.marker != "" && len(strings.Fields(b.marker)) == 1:
			// A drawing the code wrote (a golden file): checked whole, as is.
		case !isGo && b.marker != "":
			problems = append(problems, problemf(b.line, "a code marker (%s) before a %q block, not a Go one", b.marker, b.lang))
			continue
		case !isGo:
			continue
		case b.marker == "":
			problems = append(problems, problemf(b.line, "a Go block with no <!-- code: FILE [NAME [body]] --> line before it: "+
				"write it as code that go test compiles and runs (examples/ or a module's example_test.go), and mark the block with it"))
			continue
		}
		want, err := source(root, b.marker)
		if err != nil {
			problems = append(problems, problemf(b.line, "marker %q: %v", b.marker, err))
			continue
		}
		if b.text != want {
			problems = append(problems, problemf(b.line, "the block differs from %s (- README, + source):\n%s",
				b.marker, lineDiff(b.text, want)))
			updated = append(updated[:b.start:b.start], append([]byte(want+"\n"), updated[b.end:]...)...)
		}
	}
	slices.SortStableFunc(problems, func(a, b problem) int { return cmp.Compare(a.line, b.line) })
	return problems, updated
}

// problem is what is wrong at a line of the README.
type problem struct {
	line int
	msg  string
}

func problemf(line int, format string, args ...any) problem {
	return problem{line, fmt.Sprintf(format, args...)}
}

func (p problem) String() string { return fmt.Sprintf("README.md:%d: %s", p.line, p.msg) }

// fencedBlocks returns the fenced code blocks of a Markdown text, each with
// the marker on the last non-blank line before it, and the problems of the
// markers that precede no block.
func fencedBlocks(md string) ([]block, []problem) {
	var blocks []block
	var problems []problem
	var cur *block
	var fence string // the opening fence's run of ` or ~, while in a block
	marker, markerAt := "", 0
	offset := 0
	for n, line := range strings.SplitAfter(md, "\n") {
		lineNo, start := n+1, offset
		offset += len(line)
		text := strings.TrimRight(line, "\r\n")
		trimmed := strings.TrimLeft(text, " ")
		if cur != nil {
			if strings.HasPrefix(trimmed, fence) && strings.Trim(strings.TrimRight(trimmed, " "), fence[:1]) == "" && len(text)-len(trimmed) < 4 {
				cur.end = start
				cur.text = strings.TrimSuffix(md[cur.start:cur.end], "\n")
				blocks = append(blocks, *cur)
				cur = nil
			}
			continue
		}
		if f := fenceOf(trimmed); f != "" && len(text)-len(trimmed) < 4 {
			info := strings.Fields(trimmed[len(f):])
			b := block{line: lineNo, start: offset, marker: marker}
			if len(info) > 0 {
				b.lang = strings.ToLower(info[0])
			}
			cur, fence, marker = &b, f, ""
			continue
		}
		if strings.TrimSpace(text) == "" {
			continue
		}
		if marker != "" {
			problems = append(problems, problemf(markerAt, "code marker %q is not followed by a code block", marker))
		}
		marker = ""
		if m := markerLine.FindStringSubmatch(strings.TrimSpace(text)); m != nil {
			marker, markerAt = m[1], lineNo
		}
	}
	if cur != nil {
		problems = append(problems, problemf(cur.line, "code block never closed"))
	}
	if marker != "" {
		problems = append(problems, problemf(markerAt, "code marker %q is not followed by a code block", marker))
	}
	return blocks, problems
}

// fenceOf returns the code fence line starts with (three or more ` or ~),
// or "".
func fenceOf(line string) string {
	for _, c := range []string{"`", "~"} {
		n := len(line) - len(strings.TrimLeft(line, c))
		if n >= 3 {
			return line[:n]
		}
	}
	return ""
}

// source returns the code a marker names: "FILE", "FILE NAME" or
// "FILE NAME body".
func source(root, marker string) (string, error) {
	f := strings.Fields(marker)
	if len(f) == 0 || len(f) > 3 || (len(f) == 3 && f[2] != "body") {
		return "", errors.New(`want "FILE", "FILE NAME" or "FILE NAME body"`)
	}
	src, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(f[0])))
	if err != nil {
		return "", err
	}
	if len(f) == 1 {
		return strings.TrimSuffix(string(src), "\n"), nil
	}
	fset := token.NewFileSet()
	file, err := parser.ParseFile(fset, f[0], src, parser.ParseComments)
	if err != nil {
		return "", err
	}
	off := func(p token.Pos) int { return fset.Position(p).Offset }
	for _, d := range file.Decls {
		if !declares(d, f[1]) {
			continue
		}
		if len(f) == 3 {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				return "", fmt.Errorf("%s is not a function with a body", f[1])
			}
			return dedent(string(src[off(fn.Body.Lbrace)+1 : off(fn.Body.Rbrace)])), nil
		}
		start := d.Pos()
		if doc := docOf(d); doc != nil {
			start = doc.Pos()
		}
		return string(src[off(start):off(d.End())]), nil
	}
	return "", fmt.Errorf("%s declares no %s", f[0], f[1])
}

// declares reports whether d declares name: a func, Type.Method, or a name
// of a type, var or const declaration.
func declares(d ast.Decl, name string) bool {
	switch d := d.(type) {
	case *ast.FuncDecl:
		if d.Recv == nil || len(d.Recv.List) == 0 {
			return d.Name.Name == name
		}
		t := d.Recv.List[0].Type
		if star, ok := t.(*ast.StarExpr); ok {
			t = star.X
		}
		id, ok := t.(*ast.Ident)
		return ok && id.Name+"."+d.Name.Name == name
	case *ast.GenDecl:
		for _, s := range d.Specs {
			switch s := s.(type) {
			case *ast.TypeSpec:
				if s.Name.Name == name {
					return true
				}
			case *ast.ValueSpec:
				for _, n := range s.Names {
					if n.Name == name {
						return true
					}
				}
			}
		}
	}
	return false
}

func docOf(d ast.Decl) *ast.CommentGroup {
	switch d := d.(type) {
	case *ast.FuncDecl:
		return d.Doc
	case *ast.GenDecl:
		return d.Doc
	}
	return nil
}

// dedent drops a body's first and last line breaks and one tab from the
// start of each line.
func dedent(body string) string {
	body = strings.TrimPrefix(body, "\n")
	body = strings.TrimRight(body, "\t\n")
	lines := strings.Split(body, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimPrefix(l, "\t")
	}
	return strings.Join(lines, "\n")
}

// lineDiff shows how b differs from a, line by line: "- " for a line only
// in a, "+ " for one only in b, "  " for one in both.
func lineDiff(a, b string) string {
	x, y := strings.Split(a, "\n"), strings.Split(b, "\n")
	// lcs[i][j]: the longest common subsequence of x[i:] and y[j:].
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
	var out strings.Builder
	i, j := 0, 0
	for i < len(x) || j < len(y) {
		switch {
		case i < len(x) && j < len(y) && x[i] == y[j]:
			out.WriteString("  " + x[i] + "\n")
			i, j = i+1, j+1
		case i < len(x) && (j == len(y) || lcs[i+1][j] >= lcs[i][j+1]):
			out.WriteString("- " + x[i] + "\n")
			i++
		default:
			out.WriteString("+ " + y[j] + "\n")
			j++
		}
	}
	return out.String()
}
