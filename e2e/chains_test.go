package e2e_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/necrostack/necrostack/e2e/redisenv"
	"github.com/necrostack/necrostack/worker/workertest"
)

// Scenario 1. The séance and the ETL chains, each across two worker
// processes of one group, on one Redis: every ritual yields exactly one omen
// and every job exactly one report, each event of each chain is in the
// stream exactly once, nothing is pending or left undelivered, and no dead
// letter is written.
func TestChains(t *testing.T) {
	t.Parallel()
	ctx := scenario(t, 3*time.Minute)
	r := redisenv.Start(t, redisenv.Config{})
	rdb := r.Client()

	const rituals, jobs = 1000, 20
	seance := newFleet(t, "seance", r, "e2e:seance")
	s1, s2 := seance.worker("medium-1"), seance.worker("medium-2")
	etl := newFleet(t, "etl", r, "e2e:etl")
	e1, e2 := etl.worker("clerk-1"), etl.worker("clerk-2")

	start := time.Now()
	seance.emitSeance(ctx, "chains", rituals)
	inputs := writeJobs(t, jobs)
	jobIDs := make([]string, jobs)
	for i, in := range inputs {
		jobIDs[i] = etl.emitJob(ctx, in)
	}
	waitFor(ctx, t, "both chains to complete", func() (bool, string) {
		seance.alive()
		etl.alive()
		done := countDone(omens("chains", s1, s2), rituals)
		reports := len(logLines(e1.Stderr()+e2.Stderr(), "report written"))
		sOK, sState := drained(ctx, rdb, seance.stream)
		eOK, eState := drained(ctx, rdb, etl.stream)
		return done == rituals && reports >= jobs && sOK && eOK,
			fmt.Sprintf("%d/%d omens, %d/%d reports; séance group: %s; ETL group: %s", done, rituals, reports, jobs, sState, eState)
	})
	t.Logf("%d rituals and %d jobs done in %v", rituals, jobs, time.Since(start).Round(time.Millisecond))
	seance.stop()
	etl.stop()

	// The séance: one omen per ritual, and both workers took part.
	problems, _ := omenProblems(omens("chains", s1, s2), rituals, false)
	reportProblems(t, "séance omens", problems)
	for _, w := range []*workertest.Proc{s1, s2} {
		n := len(omensOf(w.Stdout(), "chains"))
		if n == 0 {
			t.Errorf("%s printed no omen: the work was not shared", w)
		}
		t.Logf("%s printed %d omens", w.Name(), n)
	}
	reportProblems(t, "séance stream", takeCensus(ctx, t, rdb, seance.stream).exactlyOnce(ritualKeys("chains", rituals), seanceTypes, false))
	checkDrained(ctx, t, rdb, seance.stream)
	if n := dlqLen(ctx, t, rdb, seance.stream); n != 0 {
		t.Errorf("séance dead letters: %d, want 0", n)
	}

	// The ETL: one report per job, printed once, and both workers took part.
	written := make(map[string]int)
	for _, w := range []*workertest.Proc{e1, e2} {
		n := 0
		for _, l := range logLines(w.Stderr(), "report written") {
			id, _ := l["job_id"].(string)
			written[id]++
			n++
		}
		t.Logf("%s wrote %d reports", w.Name(), n)
	}
	printed := reportsPrinted(e1.Stdout() + e2.Stdout())
	for i, id := range jobIDs {
		if written[id] != 1 {
			t.Errorf("job %s: %d reports written, want 1", id, written[id])
		}
		if printed[inputs[i]] != 1 {
			t.Errorf("job %s: report for %s printed %d times, want 1", id, inputs[i], printed[inputs[i]])
		}
	}
	if len(written) != jobs {
		t.Errorf("reports written for %d jobs, want %d: %v", len(written), jobs, written)
	}
	reportProblems(t, "ETL stream", takeCensus(ctx, t, rdb, etl.stream).exactlyOnce(jobIDs, etlTypes, false))
	checkDrained(ctx, t, rdb, etl.stream)
	if n := dlqLen(ctx, t, rdb, etl.stream); n != 0 {
		t.Errorf("ETL dead letters: %d, want 0", n)
	}
}

var enqueuedJob = regexp.MustCompile(`^enqueued job ([0-9a-f-]{36}) to (\S+)$`)

// emitJob enqueues one ETL job for the CSV file at input and returns its id.
func (f *fleet) emitJob(ctx context.Context, input string) string {
	f.t.Helper()
	out := strings.TrimSpace(f.run(ctx, "emit", "-input", input))
	m := enqueuedJob.FindStringSubmatch(out)
	if m == nil || m[2] != f.stream {
		f.t.Fatalf("etl -mode emit printed %q, want \"enqueued job <id> to %s\"", out, f.stream)
	}
	return m[1]
}

// writeJobs writes n small CSV files of haunting reports, each with its own
// number of rows, and returns their paths.
func writeJobs(t *testing.T, n int) []string {
	t.Helper()
	dir := t.TempDir()
	places := []string{"Blackwood Manor", "Hollow Creek Bridge", "St. Agatha's Asylum"}
	spirits := []string{"Weeping Nun", "Grey Lady", "Lantern Child"}
	paths := make([]string, n)
	for i := range paths {
		var b strings.Builder
		b.WriteString("date,location,spirit,sightings,intensity\n")
		for row := range 5 + i {
			fmt.Fprintf(&b, "2024-%02d-%02d,%s,%s,%d,%.1f\n", row%12+1, row%28+1, places[row%3], spirits[(row+i)%3], row%7, float64(row%10))
		}
		paths[i] = filepath.Join(dir, fmt.Sprintf("hauntings-%02d.csv", i+1))
		if err := os.WriteFile(paths[i], []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return paths
}

var reportHeader = regexp.MustCompile(`(?m)^Haunting report: (.+)$`)

// reportsPrinted counts the ETL reports in a worker's stdout by source.
func reportsPrinted(stdout string) map[string]int {
	out := make(map[string]int)
	for _, m := range reportHeader.FindAllStringSubmatch(stdout, -1) {
		out[m[1]]++
	}
	return out
}
