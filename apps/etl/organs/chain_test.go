package organs_test

import (
	"bytes"
	"encoding/csv"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/necrostack/necrostack/apps/etl/organs"
	"github.com/necrostack/necrostack/core"
	"github.com/necrostack/necrostack/core/necrotest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func start(t *testing.T, path string) core.Event {
	t.Helper()
	e, err := organs.ETLStart.New(organs.Job{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func reportOf(t *testing.T, tr *necrotest.Trace) organs.Report {
	t.Helper()
	recs := tr.OfType(organs.DataTransformed.Type())
	if len(recs) != 1 {
		t.Fatalf("%d DATA_TRANSFORMED events, want 1\n%s", len(recs), tr)
	}
	rep, err := organs.DataTransformed.Decode(recs[0].Event)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestChainSample(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	seed := start(t, "")
	tr := necrotest.Run(t, organs.Chain(&out), seed)

	tr.AssertChain(t, seed.ID(), "RAW_DATA_LOADED", "DATA_CLEANED", "DATA_TRANSFORMED")
	tr.AssertNoDeadLetters(t)
	rep := reportOf(t, tr)
	if rep.Read != 55 || rep.Total.Rows != 46 || len(rep.Dropped) != 9 {
		t.Errorf("read %d, kept %d, dropped %d; want 55, 46, 9", rep.Read, rep.Total.Rows, len(rep.Dropped))
	}
	var lines []int
	for _, d := range rep.Dropped {
		lines = append(lines, d.Line)
	}
	if want := []int{10, 11, 14, 22, 24, 32, 36, 42, 43}; !slices.Equal(lines, want) {
		t.Errorf("dropped lines %v, want %v", lines, want)
	}
	wantReasons := map[string]int{
		organs.ReasonBadDate: 2, organs.ReasonMissing: 1, organs.ReasonNegative: 1,
		organs.ReasonNotNumber: 2, organs.ReasonOutOfRange: 1, organs.ReasonColumnCount: 2,
	}
	if !maps.Equal(rep.DroppedByReason, wantReasons) {
		t.Errorf("DroppedByReason = %v, want %v", rep.DroppedByReason, wantReasons)
	}
	if len(rep.Locations) != 5 || rep.Total.Sightings != 219 {
		t.Errorf("%d locations, %d sightings; want 5, 219", len(rep.Locations), rep.Total.Sightings)
	}
	for _, s := range []string{"Haunting report: " + organs.SampleSource, "Ravenscroft Abbey, East Wing", "TOTAL"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("printed summary lacks %q:\n%s", s, out.String())
		}
	}
}

// TestChainAggregates checks the numbers of a whole run against ones
// computed here, directly from the rows the test writes.
func TestChainAggregates(t *testing.T) {
	t.Parallel()
	type row struct {
		date, location, spirit string
		sightings              int
		intensity              float64
	}
	rows := []row{
		{"2024-10-31", "Crypt", "Banshee", 3, 9.5},
		{"2024-11-01", "Crypt", "Wraith", 1, 4.25},
		{"2024-01-15", "Belfry", "Banshee", 2, 6},
		{"2024-11-03", "Crypt", "Wraith", 4, 2.5},
		{"2024-12-25", "Belfry", "Ghoul", 6, 1},
		{"2024-06-21", "Old Mill, Loft", "Miller", 0, 3.75},
	}
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Write([]string{"date", "location", "spirit", "sightings", "intensity"})
	for _, r := range rows {
		w.Write([]string{r.date, r.location, r.spirit, strconv.Itoa(r.sightings), strconv.FormatFloat(r.intensity, 'f', -1, 64)})
	}
	w.Flush()
	b.WriteString("2024-13-01,Crypt,Wraith,1,1\n,Crypt,Wraith,1,1\n")
	path := filepath.Join(t.TempDir(), "small.csv")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}

	type agg struct {
		rows, sightings int
		sum, max        float64
	}
	perLoc := map[string]*agg{}
	var total agg
	for _, r := range rows {
		if perLoc[r.location] == nil {
			perLoc[r.location] = &agg{}
		}
		for _, a := range []*agg{&total, perLoc[r.location]} {
			a.rows++
			a.sightings += r.sightings
			a.sum += r.intensity
			a.max = max(a.max, r.intensity)
		}
	}

	tr := necrotest.Run(t, organs.Chain(&bytes.Buffer{}), start(t, path))
	tr.AssertNoDeadLetters(t)
	rep := reportOf(t, tr)

	if rep.Source != path || rep.Read != 8 || len(rep.Dropped) != 2 || rep.From != "2024-01-15" || rep.To != "2024-12-25" {
		t.Errorf("source %q, read %d, dropped %d, dates %s..%s; want %q, 8, 2, 2024-01-15..2024-12-25",
			rep.Source, rep.Read, len(rep.Dropped), rep.From, rep.To, path)
	}
	check := func(name string, got organs.Stats, want agg) {
		t.Helper()
		if got.Rows != want.rows || got.Sightings != want.sightings ||
			got.MeanIntensity != want.sum/float64(want.rows) || got.MaxIntensity != want.max {
			t.Errorf("%s: got %+v, want rows %d, sightings %d, mean %v, max %v",
				name, got, want.rows, want.sightings, want.sum/float64(want.rows), want.max)
		}
	}
	check("total", rep.Total, total)
	var names []string
	for _, l := range rep.Locations {
		names = append(names, l.Location)
		check(l.Location, l.Stats, *perLoc[l.Location])
	}
	if want := slices.Sorted(maps.Keys(perLoc)); !slices.Equal(names, want) {
		t.Errorf("locations %q, want %q (sorted)", names, want)
	}
	tops := map[string]string{}
	for _, l := range rep.Locations {
		tops[l.Location] = l.TopSpirit
	}
	wantTops := map[string]string{"Belfry": "Ghoul", "Crypt": "Wraith", "Old Mill, Loft": "Miller"}
	if !reflect.DeepEqual(tops, wantTops) || rep.Total.TopSpirit != "Ghoul" {
		t.Errorf("top spirits %v, total %q; want %v, Ghoul", tops, rep.Total.TopSpirit, wantTops)
	}
}

func TestChainFailures(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	noValid := write("novalid.csv", "date,location,spirit,sightings,intensity\n"+
		"2024-02-30,Crypt,Banshee,1,1\n"+
		"2024-10-31,Crypt,,1,1\n"+
		"2024-10-31,Crypt,Banshee,-1,1\n")
	missing := filepath.Join(dir, "missing.csv")
	badHeader := write("header.csv", "when,where,who\n")

	tests := []struct {
		name      string
		path      string
		wantOrgan string
		wantChain []string
		wantError string
	}{
		{
			name:      "no valid rows",
			path:      noValid,
			wantOrgan: "Cleaner",
			wantChain: []string{"RAW_DATA_LOADED"},
			wantError: "no valid rows in " + noValid + " (3 rows dropped: bad_date 1, missing_field 1, negative_count 1)",
		},
		{
			name:      "missing file",
			path:      missing,
			wantOrgan: "Extractor",
			wantError: "extract: open " + missing + ": no such file or directory",
		},
		{
			name:      "bad header",
			path:      badHeader,
			wantOrgan: "Extractor",
			wantError: "extract " + badHeader + ": bad header: missing columns date, location, spirit, sightings, intensity (header has when, where, who)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var out bytes.Buffer
			seed := start(t, tt.path)
			tr := necrotest.Run(t, organs.Chain(&out), seed)

			tr.AssertChain(t, seed.ID(), tt.wantChain...)
			if len(tr.DeadLetters) != 1 {
				t.Fatalf("%d dead letters, want 1\n%s", len(tr.DeadLetters), tr)
			}
			dl := tr.DeadLetters[0]
			if dl.Organ != tt.wantOrgan || dl.Reason != core.ReasonHandlerFailed || dl.Error != tt.wantError {
				t.Errorf("dead letter: organ %q, reason %q, error %q\nwant %q, %q, %q",
					dl.Organ, dl.Reason, dl.Error, tt.wantOrgan, core.ReasonHandlerFailed, tt.wantError)
			}
			// Permanent errors skip the retries.
			if dl.Attempts != 1 {
				t.Errorf("%d attempts, want 1", dl.Attempts)
			}
			if out.Len() != 0 {
				t.Errorf("printed %q, want nothing", out.String())
			}
		})
	}
}

// TestJobOf checks that every event of a job names it, and that two jobs run
// together stay apart.
func TestJobOf(t *testing.T) {
	t.Parallel()
	first, second := start(t, ""), start(t, "")
	tr := necrotest.Run(t, organs.Chain(&bytes.Buffer{}), first, second)
	tr.AssertNoDeadLetters(t)
	for _, seed := range []core.Event{first, second} {
		lineage := append([]necrotest.Record{{Event: seed}}, tr.Descendants(seed.ID())...)
		if len(lineage) != 4 {
			t.Fatalf("job %s has %d events, want 4\n%s", seed.ID(), len(lineage), tr)
		}
		for _, r := range lineage {
			if got := organs.JobOf(r.Event); got != seed.ID() {
				t.Errorf("JobOf(%s) = %q, want %q", r.Event, got, seed.ID())
			}
		}
	}

	for _, tt := range []struct {
		name string
		e    core.Event
	}{
		{"other type", core.MustEvent("SPIRIT_APPEARED", map[string]string{"job_id": "x"})},
		{"built without a job", organs.DataCleaned.MustNew(organs.CleanData{Source: "a.csv"})},
		{"payload of the wrong shape", core.MustEvent(organs.DataTransformed.Type(), map[string]int{"job_id": 7})},
	} {
		if got := organs.JobOf(tt.e); got != "" {
			t.Errorf("%s: JobOf = %q, want \"\"", tt.name, got)
		}
	}
}
