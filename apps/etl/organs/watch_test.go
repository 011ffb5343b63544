package organs_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"testing"

	"github.com/necrostack/necrostack/apps/etl/organs"
	"github.com/necrostack/necrostack/core"
)

// Observe reports each call with the organ's name, the event and the
// error, and passes the organ's result on unchanged.
func TestObserve(t *testing.T) {
	t.Parallel()
	type call struct {
		organ, typ string
		err        error
	}
	var calls []call
	chain := organs.Observe(organs.Chain(io.Discard), func(_ context.Context, organ string, e core.Event, err error) {
		calls = append(calls, call{organ, e.Type(), err})
	})
	e := organs.ETLStart.MustNew(organs.Job{})
	for _, o := range chain {
		out, err := o.Handle(context.Background(), e)
		if err != nil {
			t.Fatalf("%s: %v", core.OrganName(o), err)
		}
		if len(out) > 0 {
			e = out[0]
		}
	}
	want := []call{{"Extractor", "ETL_START", nil}, {"Cleaner", "RAW_DATA_LOADED", nil},
		{"Transformer", "DATA_CLEANED", nil}, {"Reporter", "DATA_TRANSFORMED", nil}}
	if fmt.Sprint(calls) != fmt.Sprint(want) {
		t.Errorf("calls %v, want %v", calls, want)
	}

	var seen error
	failing := organs.Observe(organs.Chain(io.Discard)[:1], func(_ context.Context, _ string, _ core.Event, err error) { seen = err })
	_, err := failing[0].Handle(context.Background(), organs.ETLStart.MustNew(organs.Job{Path: "/no/such.csv"}))
	if err == nil || seen != err {
		t.Errorf("Handle returned %v, the observer saw %v: want the same error", err, seen)
	}
}

// A JobWatch ends at its job's report or at the last failure of one of its
// events, once, and ignores other jobs.
func TestJobWatch(t *testing.T) {
	t.Parallel()
	job := organs.ETLStart.MustNew(organs.Job{})
	raw := organs.RawDataLoaded.MustNew(organs.RawData{JobID: job.ID(), Source: "s"})
	report := organs.DataTransformed.MustNew(organs.Report{JobID: job.ID(), Source: "s"})
	other := organs.DataTransformed.MustNew(organs.Report{JobID: "another job", Source: "s"})
	transient := errors.New("disk hiccup")
	type call struct {
		organ string
		e     core.Event
		err   error
	}
	tests := []struct {
		name       string
		calls      []call
		wantEnds   int64
		wantReport bool
		wantFailed string
	}{
		{"report", []call{{"Extractor", job, nil}, {"Reporter", report, nil}, {"Reporter", report, nil}}, 1, true, ""},
		{"other job", []call{{"Reporter", other, nil}, {"Cleaner", other, core.Permanent(transient)}}, 0, false, ""},
		{"permanent failure", []call{{"Cleaner", raw, core.Permanent(errors.New("no valid rows"))}}, 1, false, "Cleaner: no valid rows"},
		{"failures left to retry", []call{{"Extractor", job, transient}, {"Extractor", job, transient}}, 0, false, ""},
		{"last attempt", []call{{"Extractor", job, transient}, {"Cleaner", raw, transient}, {"Extractor", job, transient},
			{"Extractor", job, transient}, {"Cleaner", raw, transient}}, 1, false, "Extractor: disk hiccup"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var ends atomic.Int64
			w := organs.NewJobWatch(job.ID(), 3, func() { ends.Add(1) })
			for _, c := range tt.calls {
				w.Observe(context.Background(), c.organ, c.e, c.err)
			}
			reported, failed := w.Result()
			if ends.Load() != tt.wantEnds || reported != tt.wantReport || failed != tt.wantFailed {
				t.Errorf("end called %d times, Result() = %v, %q; want %d, %v, %q",
					ends.Load(), reported, failed, tt.wantEnds, tt.wantReport, tt.wantFailed)
			}
		})
	}
}
