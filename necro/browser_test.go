package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromium is the browser the dashboard test drives: Debian's chromium
// (or NECROSTACK_CHROMIUM). Without one the test is skipped, unless
// NECROSTACK_REQUIRE_BROWSER=1 (as in CI), which makes it a failure.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("NECROSTACK_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("NECROSTACK_REQUIRE_BROWSER") == "1" {
		t.Fatal("no chromium on PATH (apt-get install chromium), and NECROSTACK_REQUIRE_BROWSER=1")
	}
	t.Skip("no chromium on PATH (apt-get install chromium): the dashboard's browser test needs one")
	return ""
}

// The dashboard in a real browser: the status page shows the stream, its
// dead letters and its group; a dead letter opened from the list is
// redriven through its page's form, and Redis shows it moved; the chain
// and flow pages draw their pictures. Each page is saved as a screenshot
// in NECROSTACK_SCREENSHOTS (how docs/dashboard is refreshed), else in the
// test's artifact directory: kept under go test -artifacts' output
// directory, removed after the test without it.
func TestDashboardInBrowser(t *testing.T) {
	bin := chromium(t)
	s := seed(t)
	srv := dashboardOn(t, s.srv.URL(), "")
	shots := os.Getenv("NECROSTACK_SCREENSHOTS")
	if shots == "" {
		shots = t.ArtifactDir()
	} else if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	oracles := dls(t, s, "--organ", "Oracle")
	oracle, still := oracles[0], oracles[1] // one to redrive, one whose chain ends in its dead letter

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(bin), chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.WindowSize(1280, 860), chromedp.Flag("headless", "new"))
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	shot := func(name string) chromedp.Action[chromedp.Void] {
		return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
			png, err := chromedp.FullScreenshot(100)(ctx, tg) // quality 100: a PNG
			if err != nil {
				return chromedp.Void{}, err
			}
			path := filepath.Join(shots, name+".png")
			t.Logf("screenshot: %s", path)
			return chromedp.Void{}, os.WriteFile(path, png, 0o644)
		}
	}
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(bctx, steps...); err != nil {
			t.Fatalf("the browser, %s: %v", what, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("the browser, the text of %s: %v", sel, err)
		}
		return s
	}

	do("the status page", chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.CSS("#streams svg.chart")), shot("status"))
	streams := text("#streams")
	do("the dead letters", chromedp.Click(chromedp.CSS("a.dlq")), chromedp.WaitVisible(chromedp.CSS("#deadletters")), shot("dead-letters"))
	do("a dead letter", chromedp.Click(chromedp.CSS(`a.dl[href$="`+oracle.ID+`"]`)), chromedp.WaitVisible(chromedp.CSS("#redrive")), shot("dead-letter"))
	do("the redrive", chromedp.Click(chromedp.CSS("#redrive button")), chromedp.WaitVisible(chromedp.CSS("#flash")))
	flash := text("#flash")
	for _, want := range []string{stream, "necrostack", "dead-1", "dead-2"} {
		if !strings.Contains(streams, want) {
			t.Errorf("the status page lacks %q:\n%s", want, streams)
		}
	}
	if !strings.Contains(flash, "redrove 1 dead letter ("+oracle.ID+")") {
		t.Errorf("after the redrive the page says %q", flash)
	}
	if d, l := s.lens(t); d != 5 || l != s.length+1 {
		t.Errorf("after the redrive through the page: %d dead letters (want 5), %d entries (want %d)", d, l, s.length+1)
	}

	var spirit struct {
		ID string `json:"id"`
	}
	_ = jsonUnmarshal(still.Event, &spirit)
	do("the chain", chromedp.Navigate(srv.URL+"/trace?stream="+stream+"&id="+spirit.ID), chromedp.WaitVisible(chromedp.CSS("#chain svg")), shot("chain"))
	if chainText := text("pre"); !strings.Contains(chainText, "✗ dead letter") || !strings.Contains(chainText, "SPIRIT") {
		t.Errorf("the chain page: %q", chainText)
	}
	do("the flow", chromedp.Navigate(srv.URL+"/graph?stream="+stream), chromedp.WaitVisible(chromedp.CSS("#flow svg")), shot("flow"))
}
