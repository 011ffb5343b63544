package organs

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/necrostack/necrostack/core"
)

var smallReport = Report{
	Source: "small.csv",
	Read:   4,
	Dropped: []Rejection{
		{Line: 4, Reason: ReasonBadDate, Detail: `date "2024-02-30" is not a real date in YYYY-MM-DD form`},
	},
	DroppedByReason: map[string]int{ReasonBadDate: 1},
	From:            "2024-10-31",
	To:              "2024-11-02",
	Locations: []LocationStats{
		{Location: "Belfry", Stats: Stats{Rows: 1, Sightings: 2, MeanIntensity: 6, MaxIntensity: 6, TopSpirit: "Banshee"}},
		{Location: "Crypt of Saint Ælfric", Stats: Stats{Rows: 2, Sightings: 14, MeanIntensity: 7, MaxIntensity: 9.5, TopSpirit: "Wraith"}},
	},
	Total: Stats{Rows: 3, Sightings: 16, MeanIntensity: 20.0 / 3, MaxIntensity: 9.5, TopSpirit: "Wraith"},
}

func TestReporter(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	out, err := (&Reporter{Out: &b}).Handle(context.Background(), mustNew(t, DataTransformed, smallReport))
	if err != nil || out != nil {
		t.Fatalf("Handle = %v, %v; want nothing emitted, no error", out, err)
	}
	want := `Haunting report: small.csv
4 rows read: 3 kept, 1 dropped
Dates: 2024-10-31 to 2024-11-02

LOCATION               ROWS  SIGHTINGS  MEAN INTENSITY  MAX INTENSITY  TOP SPIRIT
Belfry                    1          2            6.00           6.00  Banshee
Crypt of Saint Ælfric     2         14            7.00           9.50  Wraith
---------------------------------------------------------------------------------
TOTAL                     3         16            6.67           9.50  Wraith

Dropped rows:
LINE  REASON    DETAIL
   4  bad_date  date "2024-02-30" is not a real date in YYYY-MM-DD form
Dropped per reason: bad_date 1
`
	if got := b.String(); got != want {
		t.Errorf("report:\n%s\nwant:\n%s", got, want)
	}
}

func TestReporterNothingDropped(t *testing.T) {
	t.Parallel()
	rep := smallReport
	rep.Read, rep.Dropped, rep.DroppedByReason = 3, nil, nil
	var b bytes.Buffer
	if _, err := (&Reporter{Out: &b}).Handle(context.Background(), mustNew(t, DataTransformed, rep)); err != nil {
		t.Fatal(err)
	}
	if got := b.String(); !strings.Contains(got, "3 rows read: 3 kept, 0 dropped\n") || strings.Contains(got, "Dropped") {
		t.Errorf("report:\n%s\nwant 0 dropped and no dropped section", got)
	}
}

// TestReporterConcurrent checks that concurrent reports come out whole.
func TestReporterConcurrent(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	r := &Reporter{Out: &b}
	e := mustNew(t, DataTransformed, smallReport)
	var one bytes.Buffer
	writeReport(&one, smallReport)

	const n = 8
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			if _, err := r.Handle(context.Background(), e); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got, want := b.String(), strings.Repeat(one.String(), n); got != want {
		t.Errorf("%d concurrent reports interleaved:\n%s", n, got)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full of ectoplasm") }

func TestReporterWriteError(t *testing.T) {
	t.Parallel()
	_, err := (&Reporter{Out: failingWriter{}}).Handle(context.Background(), mustNew(t, DataTransformed, smallReport))
	if !errors.Is(err, core.ErrPermanent) || !strings.Contains(err.Error(), "ectoplasm") {
		t.Errorf("got %v, want a permanent error carrying the write error", err)
	}
}
