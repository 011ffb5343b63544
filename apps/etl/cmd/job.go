package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"

	"github.com/necrostack/necrostack/apps/etl/organs"
	nsredis "github.com/necrostack/necrostack/backends/redis"
	"github.com/necrostack/necrostack/core"
	"github.com/necrostack/necrostack/worker"
)

// keyJobID is the log key of a job's id, the id of its ETL_START.
const keyJobID = "job_id"

// job is the ETL's part of one process: -input, and the job that a run or
// an emit seeds.
type job struct {
	input string
	start core.Event       // the job's ETL_START, once seeded
	watch *organs.JobWatch // a run's, from Begin on
}

// seeds returns the job's ETL_START. On Redis the path is made absolute: a
// worker in another folder may read it.
func (j *job) seeds(p *worker.Process) ([]core.Event, error) {
	path := j.input
	if path != "" {
		// Fail fast, with a plain message, rather than by a dead letter.
		if err := (organs.Extractor{}).Check(path); err != nil {
			return nil, err
		}
		if p.Backend == worker.BackendRedis {
			var err error
			if path, err = filepath.Abs(path); err != nil {
				return nil, err
			}
		}
	}
	start, err := organs.ETLStart.New(organs.Job{Path: path})
	if err != nil {
		return nil, err
	}
	j.start = start
	return []core.Event{start}, nil
}

// chain returns the organs, each call observed: for the log line of each
// report, and for a run's watch. On Redis an event is bounded by
// MaxEventBytes before the backend refuses it.
func (j *job) chain(p *worker.Process) ([]core.Organ, error) {
	chain := organs.Chain(p.Stdout)
	if p.Backend == worker.BackendRedis {
		chain = organs.LimitEventBytes(chain, organs.MaxEventBytes)
	}
	return organs.Observe(chain, func(ctx context.Context, organ string, e core.Event, err error) {
		if err == nil && e.Type() == organs.DataTransformed.Type() {
			p.Log.LogAttrs(ctx, slog.LevelInfo, "report written", slog.String(keyJobID, organs.JobOf(e)))
		}
		if j.watch != nil {
			j.watch.Observe(ctx, organ, e, err)
		}
	}), nil
}

// begin makes a run stop as soon as its own job is done (Process.Finish):
// on Redis the stream may hold more, and never be idle. The runtime leaves
// the Spine's retries at core's defaults, hence DefaultMaxAttempts.
func (j *job) begin(p *worker.Process) {
	if p.Mode == worker.ModeRun {
		j.watch = organs.NewJobWatch(j.start.ID(), core.DefaultMaxAttempts, p.Finish)
	}
}

// end prints the job an emit enqueued, and gives a run its job's verdict.
func (j *job) end(p *worker.Process, r worker.Result) error {
	switch {
	case r.Err != nil:
		return nil // the runtime reports it
	case r.Mode == worker.ModeEmit:
		fmt.Fprintf(p.Stdout, "enqueued job %s to %s\n", j.start.ID(), r.Stream)
	case r.Mode == worker.ModeRun:
		return j.verdict(p, r.DeadLetters)
	}
	return nil
}

// verdict fails a run whose job was dead-lettered, naming its dead letters
// (not those of other jobs), or did not finish in this process.
func (j *job) verdict(p *worker.Process, dls []core.DeadLetter) error {
	var dead []string
	for _, dl := range dls {
		if organs.JobOf(dl.Event) == j.start.ID() {
			dead = append(dead, cmp.Or(dl.Organ, dl.Reason)+": "+nsredis.Redact(dl.Error, p.RedisURL))
		}
	}
	reported, failed := j.watch.Result()
	switch {
	case len(dead) > 0:
		return errors.New(strings.Join(dead, "; "))
	case failed != "":
		// Seen failing, with no dead letter: the commit of the failure
		// was lost to another consumer, which handles the event again.
		return errors.New(failed)
	case !reported:
		return fmt.Errorf("job %s did not finish here: another consumer of group %q on %s took part of it, and reports there (with workers running, use -mode emit)",
			j.start.ID(), p.Group, p.Stream)
	}
	return nil
}
