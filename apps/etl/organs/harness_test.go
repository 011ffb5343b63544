package organs_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/necrostack/necrostack/apps/etl/organs"
	"github.com/necrostack/necrostack/core"
	"github.com/necrostack/necrostack/core/necrotest"
)

// The organ tests of the harness's features, on the ETL chain: virtual
// time, a fake, a golden trace and the replay of a chain recorded on Redis.

var errStorage = errors.New("storage not mounted yet")

// An Extractor whose storage is not there for its first two calls: the
// production retry policy runs in virtual time (50–100 ms, then 100–200 ms)
// and the job then completes from the real Extractor.
func TestExtractorRetryScheduleInVirtualTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		extractor := necrotest.NewFake("Extractor").FailFirst(2, errStorage).Do(organs.Extractor{}.Handle)
		seed := start(t, "")
		tr, err := necrotest.RunWith(context.Background(), necrotest.Config{Retry: &core.RetryPolicy{}},
			necrotest.Replace(t, organs.Chain(io.Discard), extractor), seed)
		if err != nil {
			t.Fatal(err)
		}
		tr.RequireChain(t, seed.ID(), "RAW_DATA_LOADED", "DATA_CLEANED", "DATA_TRANSFORMED")
		calls := tr.CallsOf("Extractor", seed.ID())
		if len(calls) != 3 || !errors.Is(calls[0].Err, errStorage) || calls[2].Err != nil {
			t.Fatalf("Extractor calls: %+v; want two failures, then a success", calls)
		}
		for i, want := range []time.Duration{100 * time.Millisecond, 200 * time.Millisecond} {
			if gap := calls[i+1].At - calls[i].At; gap < want/2 || gap > want {
				t.Errorf("wait before call %d: %v, want %v–%v", i+2, gap, want/2, want)
			}
		}
	})
}

// A fake Reporter stands in for the one that prints: it is called once,
// with the report of the sample's 46 good rows.
func TestWithAFakeReporter(t *testing.T) {
	t.Parallel()
	reporter := necrotest.NewFake("Reporter")
	seed := start(t, "")
	tr := necrotest.Run(t, necrotest.Replace(t, organs.Chain(io.Discard), reporter), seed)
	reporter.AssertTimes(t, 1)
	cleaned := tr.OfType("DATA_CLEANED")
	reports := necrotest.RequireEmitted(t, tr, cleaned[0].Event.ID(), organs.DataTransformed)
	if calls := reporter.Calls(); len(calls) != 1 || calls[0].ID() != tr.OfType("DATA_TRANSFORMED")[0].Event.ID() || reports[0].Total.Rows != 46 {
		t.Errorf("the Reporter got %v; the report has %d rows, want 46", calls, reports[0].Total.Rows)
	}
}

// The sample job as a golden trace (testdata/sample.golden; go test
// -update rewrites it), and a job that fails for good beside it.
func TestGoldenSample(t *testing.T) {
	t.Parallel()
	tr := necrotest.Run(t, organs.Chain(io.Discard), start(t, ""), start(t, "testdata/no-such-file.csv"))
	tr.Golden(t, "testdata/sample.golden")
}

// The sample job, exported from a real Redis run of the ETL with `necro
// trace … --format export`, replays through today's organs without a
// difference; through a Cleaner that keeps every row, the replay tells
// where the chain changed. To record it again:
//
//	go run ./apps/etl/cmd -backend redis
//	go run ./necro trace necrostack:etl JOB_ID --format export > apps/etl/organs/testdata/sample.chain.json
func TestReplayRecordedJob(t *testing.T) {
	t.Parallel()
	necrotest.Replay(t, organs.Chain(io.Discard), "testdata/sample.chain.json")

	recorded, err := necrotest.LoadChain("testdata/sample.chain.json")
	if err != nil {
		t.Fatal(err)
	}
	lax := necrotest.NewFake("Cleaner").Do(func(_ context.Context, e core.Event) ([]core.Event, error) {
		raw, err := organs.RawDataLoaded.Decode(e)
		if err != nil {
			return nil, err
		}
		return core.Emit(organs.DataCleaned.MustNew(organs.CleanData{JobID: raw.JobID, Source: raw.Source, Read: len(raw.Rows)})), nil
	})
	_, diff, err := necrotest.ReplayWith(context.Background(), necrotest.Config{}, necrotest.Replace(t, organs.Chain(io.Discard), lax), recorded)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(diff, "-     e3 DATA_CLEANED") || !strings.Contains(diff, "+     e3 DATA_CLEANED") {
		t.Errorf("replay through a lax Cleaner:\n%s", diff)
	}
}
