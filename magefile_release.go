//go:build mage

package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"
	modzip "golang.org/x/mod/zip"
)

// modulePrefix is the path all of the repository's modules share.
const modulePrefix = "github.com/necrostack/necrostack/"

// libraries are the modules released for users to require (and necro, to
// go install), in dependency
// order. They are released in lockstep: one version, in VERSION, and a tag
// <folder>/<version> for each.
var libraries = []string{"core", "backends/memory", "backends/redis", "necrotel", "worker", "necro"}

// commands are the modules of libraries that users go install. go install
// refuses a module whose go.mod has replace directives, so their released
// go.mod has none: Release tags a commit that drops them, and puts them
// back in the next (they make the workspace-less build use the siblings).
var commands = []string{"necro"}

// consumers are the programs ReleaseCheck builds against the released
// libraries, from outside the workspace, each with the packages it must
// not link.
var consumers = []struct {
	name     string
	requires []string // library folders
	main     string
	forbid   []string // import path prefixes
}{
	{
		name:     "core + memory",
		requires: []string{"core", "backends/memory"},
		main: `package main

import (
	"context"
	"fmt"

	"github.com/necrostack/necrostack/backends/memory"
	"github.com/necrostack/necrostack/core"
)

func main() {
	b := memory.New(memory.Config{})
	echo := core.OrganFunc("Echo", []string{"PING"}, func(context.Context, core.Event) ([]core.Event, error) { return nil, nil })
	s, err := core.NewSpine(b, []core.Organ{echo}, core.Config{})
	if err != nil {
		panic(err)
	}
	_ = s.Enqueue(context.Background(), core.MustEvent("PING", nil))
	fmt.Println(s.RunUntilIdle(context.Background()), s.Stats().Handled)
}
`,
		forbid: append([]string{"github.com/redis/"}, noTestCode...),
	},
	{
		name:     "redis",
		requires: []string{"core", "backends/redis"},
		main: `package main

import (
	"context"
	"fmt"

	"github.com/necrostack/necrostack/backends/redis"
)

func main() {
	_, err := redis.New(context.Background(), redis.Config{URL: "redis://127.0.0.1:1"})
	fmt.Println(err)
}
`,
		forbid: noTestCode,
	},
	{
		name:     "worker",
		requires: []string{"core", "backends/memory", "backends/redis", "necrotel", "worker"},
		main: `package main

import (
	"context"

	"github.com/necrostack/necrostack/core"
	"github.com/necrostack/necrostack/worker"
)

func main() {
	worker.Main(worker.App{Name: "check", Organs: func(*worker.Process) ([]core.Organ, error) {
		return []core.Organ{core.OrganFunc("Echo", []string{"PING"}, func(context.Context, core.Event) ([]core.Event, error) { return nil, nil })}, nil
	}})
}
`,
		forbid: noTestCode,
	},
}

// releaseVersion reads VERSION.
func releaseVersion() (string, error) {
	b, err := os.ReadFile("VERSION")
	if err != nil {
		return "", fmt.Errorf("VERSION: %w", err)
	}
	v := strings.TrimSpace(string(b))
	if !semver.IsValid(v) || semver.Canonical(v) != v {
		return "", fmt.Errorf("VERSION %q: not a canonical semantic version such as v0.1.0", v)
	}
	return v, nil
}

// allModules lists every module folder of the repository but the root.
func allModules() []string { return append(slices.Clone(modules), e2eModule) }

// checkRequires fails unless every intra-repo require of every module is
// at version: a placeholder (v0.0.0) works in the workspace, through the
// replace directives, but a user's build ignores those and cannot resolve
// it.
func checkRequires(version string) error {
	var bad []string
	for _, m := range allModules() {
		path := filepath.Join(m, "go.mod")
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		f, err := modfile.ParseLax(path, data, nil)
		if err != nil {
			return err
		}
		for _, r := range f.Require {
			if strings.HasPrefix(r.Mod.Path, modulePrefix) && r.Mod.Version != version {
				bad = append(bad, fmt.Sprintf("%s requires %s %s", path, r.Mod.Path, r.Mod.Version))
			}
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("intra-repo requires must carry the release version %s (go tool mage setVersion %s):\n  %s",
			version, version, strings.Join(bad, "\n  "))
	}
	return nil
}

// SetVersion sets the release version: VERSION, and every intra-repo
// require of every module's go.mod.
func SetVersion(version string) error {
	if !semver.IsValid(version) || semver.Canonical(version) != version {
		return fmt.Errorf("setVersion %q: want a canonical semantic version such as v0.1.0", version)
	}
	for _, m := range allModules() {
		path := filepath.Join(m, "go.mod")
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		f, err := modfile.Parse(path, data, nil)
		if err != nil {
			return err
		}
		for _, r := range f.Require {
			if strings.HasPrefix(r.Mod.Path, modulePrefix) {
				if err := f.AddRequire(r.Mod.Path, version); err != nil {
					return err
				}
			}
		}
		f.Cleanup()
		out, err := f.Format()
		if err != nil {
			return err
		}
		if err := os.WriteFile(path, out, 0o644); err != nil {
			return err
		}
	}
	return os.WriteFile("VERSION", []byte(version+"\n"), 0o644)
}

// ReleaseCheck checks that the library modules can be released as they
// are: every intra-repo require carries the version in VERSION, and, from
// a throwaway module proxy holding the libraries at that version, a fresh
// module outside the workspace (GOWORK=off) can go get each, build a small
// program with it, and links none of what it must not (a core + memory
// user no go-redis; no user testcontainers, Docker, miniredis, Watermill or
// mage code).
func ReleaseCheck() error {
	version, err := releaseVersion()
	if err != nil {
		return err
	}
	if err := checkRequires(version); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "necrorelease-")
	if err != nil {
		return err
	}
	defer func() {
		_ = exec.Command("chmod", "-R", "u+w", tmp).Run() // the module cache is read-only
		os.RemoveAll(tmp)
	}()
	proxy := filepath.Join(tmp, "proxy")
	for _, lib := range libraries {
		if err := publish(proxy, lib, version); err != nil {
			return fmt.Errorf("release check: %s: %w", lib, err)
		}
	}
	env, err := consumerEnv(tmp, proxy)
	if err != nil {
		return err
	}
	for i, c := range consumers {
		dir := filepath.Join(tmp, fmt.Sprintf("consumer%d", i))
		if err := buildConsumer(dir, env, version, c.requires, c.main, c.forbid); err != nil {
			return fmt.Errorf("release check: the %s user: %w", c.name, err)
		}
		fmt.Printf("==> release check: a %s user builds from %s and links none of %s\n", c.name, version, strings.Join(c.forbid, " "))
	}
	if err := installCommand(tmp, env, "necro", version, necroForbid); err != nil {
		return fmt.Errorf("release check: go install necro: %w", err)
	}
	fmt.Printf("==> release check: go install %snecro@%s works, and the command links none of %s\n", modulePrefix, version, strings.Join(necroForbid, " "))
	return nil
}

// necroForbid is what the necro command must not link: its tests' browser
// driver included.
var necroForbid = append([]string{"github.com/chromedp/"}, noTestCode...)

// noTestCode is what no user of the libraries links: the tests' and the
// benchmark's and the build's dependencies.
var noTestCode = []string{"github.com/alicebob/", "github.com/testcontainers/", "github.com/docker/", "github.com/moby/",
	"github.com/ThreeDotsLabs/", "github.com/magefile/"}

// installCommand go installs the command module lib at version, as a user
// would (outside any module), runs its --help, and checks what it links.
func installCommand(tmp string, env []string, lib, version string, forbid []string) error {
	bin := filepath.Join(tmp, "bin")
	run := func(name string, args ...string) (string, error) {
		return output(tmp, append(env, "GOBIN="+bin), name, args...)
	}
	if _, err := run("go", "install", modulePrefix+lib+"@"+version); err != nil {
		return err
	}
	exe := filepath.Join(bin, filepath.Base(lib))
	if _, err := run(exe, "--help"); err != nil {
		return err
	}
	deps, err := run("go", "version", "-m", exe)
	if err != nil {
		return err
	}
	var pkgs []string
	for _, line := range strings.Split(deps, "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "dep" {
			pkgs = append(pkgs, f[1])
		}
	}
	return forbidden(pkgs, forbid)
}

// output runs name with args in dir, with env, and returns its output; an
// error holds the output.
func output(dir string, env []string, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir, cmd.Env = dir, env
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// forbidden fails naming those of pkgs (import or module paths) that start
// with one of forbid.
func forbidden(pkgs, forbid []string) error {
	var linked []string
	for _, p := range pkgs {
		for _, f := range forbid {
			if strings.HasPrefix(p, f) {
				linked = append(linked, p)
			}
		}
	}
	if len(linked) > 0 {
		return errors.New("links what it must not: " + strings.Join(linked, ", "))
	}
	return nil
}

// publish writes module lib at version into the file proxy at dir.
func publish(dir, lib, version string) error {
	path := modulePrefix + lib
	escaped, err := module.EscapePath(path)
	if err != nil {
		return err
	}
	at := filepath.Join(dir, escaped, "@v")
	if err := os.MkdirAll(at, 0o755); err != nil {
		return err
	}
	gomod, err := os.ReadFile(filepath.Join(lib, "go.mod"))
	if err != nil {
		return err
	}
	if slices.Contains(commands, lib) {
		if gomod, err = withoutReplace(filepath.Join(lib, "go.mod"), gomod); err != nil {
			return err
		}
	}
	info, _ := json.Marshal(map[string]string{"Version": version, "Time": time.Now().UTC().Format(time.RFC3339)})
	for name, data := range map[string][]byte{"list": []byte(version + "\n"), version + ".info": info, version + ".mod": gomod} {
		if err := os.WriteFile(filepath.Join(at, name), data, 0o644); err != nil {
			return err
		}
	}
	z, err := os.Create(filepath.Join(at, version+".zip"))
	if err != nil {
		return err
	}
	defer z.Close()
	if !slices.Contains(commands, lib) {
		return modzip.CreateFromDir(z, module.Version{Path: path, Version: version}, lib)
	}
	// The zip of a command holds its released go.mod, as Release tags it.
	var files []modzip.File
	err = filepath.WalkDir(lib, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(lib, p)
		files = append(files, zipFile{path: filepath.ToSlash(rel), disk: p, gomod: gomod})
		return nil
	})
	if err != nil {
		return err
	}
	return modzip.Create(z, module.Version{Path: path, Version: version}, files)
}

// zipFile is a file of a module zip: from disk, but go.mod as given.
type zipFile struct {
	path, disk string
	gomod      []byte
}

func (f zipFile) Path() string { return f.path }
func (f zipFile) Lstat() (os.FileInfo, error) {
	return os.Lstat(f.disk)
}
func (f zipFile) Open() (io.ReadCloser, error) {
	if f.path == "go.mod" {
		return io.NopCloser(bytes.NewReader(f.gomod)), nil
	}
	return os.Open(f.disk)
}

// withoutReplace is the go.mod data of path without its replace directives.
func withoutReplace(path string, data []byte) ([]byte, error) {
	f, err := modfile.Parse(path, data, nil)
	if err != nil {
		return nil, err
	}
	for _, r := range slices.Clone(f.Replace) {
		if err := f.DropReplace(r.Old.Path, r.Old.Version); err != nil {
			return nil, err
		}
	}
	f.Cleanup()
	return f.Format()
}

// consumerEnv is the environment of the consumers' go commands: outside
// the workspace, a module cache of their own (what the check publishes
// must not land in the real one), the throwaway proxy first, then the real
// module cache and proxy for third-party modules.
func consumerEnv(tmp, proxy string) ([]string, error) {
	out, err := exec.Command("go", "env", "GOMODCACHE", "GOPROXY").Output()
	if err != nil {
		return nil, err
	}
	vals := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(vals) != 2 {
		return nil, fmt.Errorf("go env: %q", out)
	}
	proxies := "file://" + filepath.ToSlash(proxy) + ",file://" + filepath.ToSlash(filepath.Join(vals[0], "cache", "download"))
	if vals[1] != "" && vals[1] != "off" {
		proxies += "," + vals[1]
	}
	return append(os.Environ(), "GOWORK=off", "GOFLAGS=-modcacherw", "GOMODCACHE="+filepath.Join(tmp, "modcache"),
		"GOPROXY="+proxies, "GOSUMDB=off", "GONOSUMDB="+modulePrefix+"*"), nil
}

// buildConsumer makes a module in dir with main, go gets the libraries at
// version, builds it, and checks what it links.
func buildConsumer(dir string, env []string, version string, requires []string, main string, forbid []string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/consumer\n\ngo 1.26.0\n"), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(main), 0o644); err != nil {
		return err
	}
	run := func(args ...string) (string, error) { return output(dir, env, "go", args...) }
	get := []string{"get"}
	for _, r := range requires {
		get = append(get, modulePrefix+r+"@"+version)
	}
	if _, err := run(get...); err != nil {
		return err
	}
	if _, err := run("build", "-o", os.DevNull, "."); err != nil {
		return err
	}
	deps, err := run("list", "-deps", "-f", "{{.ImportPath}}", ".")
	if err != nil {
		return err
	}
	return forbidden(strings.Fields(deps), forbid)
}

// Release tags each library module at the version in VERSION
// (core/v0.1.0, backends/redis/v0.1.0, …), after checking that the tree is
// clean and that ReleaseCheck passes. It does not push: it prints the
// command that does.
func Release() error {
	version, err := releaseVersion()
	if err != nil {
		return err
	}
	out, err := exec.Command("git", "status", "--porcelain").Output()
	if err != nil {
		return fmt.Errorf("git status: %w", err)
	}
	if s := strings.TrimSpace(string(out)); s != "" {
		return fmt.Errorf("release: the tree is not clean; commit or stash first:\n%s", s)
	}
	if err := ReleaseCheck(); err != nil {
		return err
	}
	restore, err := releaseCommands(version)
	if err != nil {
		return err
	}
	var tags []string
	for _, lib := range libraries {
		tag := lib + "/" + version
		if out, err := exec.Command("git", "tag", "-a", tag, "-m", "NecroStack "+lib+" "+version).CombinedOutput(); err != nil {
			// The commands' go.mod go back as they were; the tags made so
			// far stay, named, for the one who reruns it to delete.
			return errors.Join(fmt.Errorf("git tag %s (tagged so far: %s): %v\n%s", tag, strings.Join(tags, " "), err, out), restore())
		}
		tags = append(tags, tag)
		fmt.Println("==> tagged", tag)
	}
	if err := restore(); err != nil {
		return err
	}
	fmt.Printf("==> push them with: git push origin main %s\n", strings.Join(tags, " "))
	return nil
}

// releaseCommands commits the commands' go.mod without replace directives,
// for the tags, and returns what commits them back.
func releaseCommands(version string) (restore func() error, err error) {
	saved := map[string][]byte{}
	for _, c := range commands {
		path := filepath.Join(c, "go.mod")
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		released, err := withoutReplace(path, data)
		if err != nil {
			return nil, err
		}
		saved[path] = data
		if err := os.WriteFile(path, released, 0o644); err != nil {
			return nil, err
		}
	}
	git := func(args ...string) error {
		if out, err := exec.Command("git", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	paths := slices.Sorted(maps.Keys(saved))
	if err := git(append([]string{"commit", "-m", "Release " + version + ": " + strings.Join(commands, ", ") + " without replace directives, for go install", "--"}, paths...)...); err != nil {
		return nil, err
	}
	return func() error {
		for path, data := range saved {
			if err := os.WriteFile(path, data, 0o644); err != nil {
				return err
			}
		}
		return git(append([]string{"commit", "-m", "After " + version + ": the replace directives back, for the workspace-less build", "--"}, paths...)...)
	}, nil
}
