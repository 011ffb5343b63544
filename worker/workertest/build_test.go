package workertest_test

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/necrostack/necrostack/worker/workertest"
)

// TestMain removes what the tests built, as the doc asks of every user.
func TestMain(m *testing.M) {
	code := m.Run()
	workertest.RemoveBuilds()
	os.Exit(code)
}

// writeModule writes a module with one main package, whose main.go holds
// body, in a new folder outside the repository's workspace.
func writeModule(t *testing.T, body string) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"go.mod":  "module example.com/hello\n\ngo 1.26.0\n",
		"main.go": "package main\n\n" + body,
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const helloMain = `import (
	"fmt"
	"os"
)

func main() { fmt.Println("hello", os.Args[1:]) }
`

// Build builds once per package and name, the binary runs, and RemoveBuilds
// deletes it.
func TestBuild(t *testing.T) {
	t.Setenv("GOWORK", "off") // the module is outside any workspace
	dir := writeModule(t, helloMain)
	bin := workertest.Build(t, "hello", dir)
	if filepath.Base(bin) != "hello" {
		t.Errorf("binary %s, want one named hello", bin)
	}
	info, err := os.Stat(bin)
	if err != nil {
		t.Fatal(err)
	}
	if again := workertest.Build(t, "hello", dir); again != bin {
		t.Errorf("second Build: %s, want the first build, %s", again, bin)
	}
	if after, err := os.Stat(bin); err != nil || !after.ModTime().Equal(info.ModTime()) {
		t.Errorf("second Build rebuilt the binary (%v)", err)
	}
	if other := workertest.Build(t, "hello2", dir); other == bin {
		t.Errorf("Build under another name returned the same binary %s", other)
	}
	stdout, _, code := workertest.Run(t.Context(), t, "hello", bin, "a", "b")
	if stdout != "hello [a b]\n" || code != 0 {
		t.Errorf("run: %q, exit %d; want %q, exit 0", stdout, code, "hello [a b]\n")
	}

	workertest.RemoveBuilds()
	if _, err := os.Stat(bin); !os.IsNotExist(err) {
		t.Errorf("after RemoveBuilds, stat %s: %v, want it gone", bin, err)
	}
	rebuilt := workertest.Build(t, "hello", dir)
	if _, err := os.Stat(rebuilt); err != nil {
		t.Errorf("Build after RemoveBuilds: %v", err)
	}
	workertest.RemoveBuilds()
}

// fatalT records a Fatalf and ends the goroutine, as testing.T does.
type fatalT struct {
	testing.TB
	fatal string
}

func (f *fatalT) Helper()             {}
func (f *fatalT) Logf(string, ...any) {}
func (f *fatalT) Fatalf(format string, args ...any) {
	f.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// A package that does not compile fails the test with the compiler's
// message.
func TestBuildFails(t *testing.T) {
	t.Setenv("GOWORK", "off")
	dir := writeModule(t, "func main() { undefinedCall() }\n")
	ft := &fatalT{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		workertest.Build(ft, "broken", dir)
	}()
	<-done
	if !strings.Contains(ft.fatal, "undefined: undefinedCall") {
		t.Errorf("Build of a broken package: failure %q, want the compiler's message", ft.fatal)
	}
}
