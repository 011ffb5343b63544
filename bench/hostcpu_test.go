package bench

import (
	"runtime"
	"strings"
	"testing"
)

func TestParseProcStat(t *testing.T) {
	// A 6.x kernel's first lines: user nice system idle iowait irq softirq
	// steal guest guest_nice (guest time is already in user and nice).
	got, err := parseProcStat("cpu  100 5 40 800 20 3 2 30 7 0\ncpu0 50 2 20 400 10 1 1 15 3 0\n")
	if err != nil {
		t.Fatal(err)
	}
	if want := (hostTimes{total: 1000, idle: 820, steal: 30}); got != want {
		t.Errorf("parsed %+v, want %+v", got, want)
	}
	// An old kernel's 8 counters: no guest fields.
	if got, err := parseProcStat("cpu 1 2 3 4 5 6 7 8"); err != nil || got != (hostTimes{total: 36, idle: 9, steal: 8}) {
		t.Errorf("8 counters: %+v, %v", got, err)
	}
	for _, bad := range []struct{ text, says string }{
		{"", "not the aggregate cpu line"},
		{"cpu0 1 2 3 4 5 6 7 8\n", "not the aggregate cpu line"},
		{"cpu 1 2 3 4 5 6 7\n", "at least 8 counters"},
		{"cpu 1 2 3 x 5 6 7 8\n", `cpu counter 4 is "x"`},
		{"cpu 1 2 3 -4 5 6 7 8\n", `cpu counter 4 is "-4"`},
	} {
		_, err := parseProcStat(bad.text)
		if err == nil || !strings.Contains(err.Error(), bad.says) {
			t.Errorf("parseProcStat(%q) = %v, want an error saying %q", bad.text, err, bad.says)
		}
	}
}

func TestHostShares(t *testing.T) {
	before := hostTimes{total: 1000, idle: 600, steal: 10}
	// 200 ticks pass: 50 idle, 30 stolen, so 120 busy.
	busy, steal, ok := hostShares(before, hostTimes{total: 1200, idle: 650, steal: 40})
	if !ok || busy != 60 || steal != 15 {
		t.Errorf("shares = %v%% busy, %v%% stolen, ok %v; want 60, 15, true", busy, steal, ok)
	}
	if _, _, ok := hostShares(before, before); ok {
		t.Error("no tick between the readings: want ok false")
	}
}

func TestReadHostTimes(t *testing.T) {
	got, err := readHostTimes()
	if runtime.GOOS != "linux" {
		if err == nil {
			t.Fatal("want an error where there is no /proc/stat")
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if got.total == 0 || got.idle > got.total || got.steal > got.total {
		t.Errorf("host times %+v: want a positive total holding idle and steal", got)
	}
}
