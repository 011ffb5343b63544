// Command etl runs the NecroStack ETL demo: it loads a CSV of haunting
// reports, drops the invalid rows, aggregates the rest per location and
// prints a summary table on stdout. Logs go to stderr, as JSON.
//
//	etl [-input FILE] [runtime flags]
//	go run ./apps/etl/cmd -input hauntings.csv   # from the repository root
//
// -input is the CSV file of the job, by default the sample embedded in the
// organs package. The other flags (-mode, -backend, -redis-url, -stream,
// -group, -consumer, -concurrency, -log-level, ...), their NECROSTACK_*
// variables and the exit status are the worker runtime's: see package
// github.com/necrostack/necrostack/worker, or etl -h. The ETL's defaults:
// -stream necrostack:etl (never shared with the séance) and -log-level warn.
//
// # Modes
//
//   - run, the default: enqueue one job for -input, handle events until
//     that job is done, and exit 1 if it failed, naming its dead letters.
//   - worker (Redis): handle the stream's jobs until SIGINT or SIGTERM,
//     printing each report (logged at info as "report written", job_id).
//   - emit (Redis): enqueue one job, its path made absolute for workers in
//     other folders, and print "enqueued job <id> to <stream>".
//   - redrive (Redis): move the dead letters back to the stream, for the
//     workers to try again once the file is fixed; they keep their job.
//
// # Jobs on a shared stream
//
// A job is identified by the id of its ETL_START, which its later events
// carry. On Redis a run handles the other jobs' events it meets on the
// stream, and prints their reports too, but only its own job decides the
// exit status, and only that job's dead letters are printed. It stops as
// soon as its job is done. If a worker takes part of the job, the report is
// printed there and the run exits 1 saying so: with workers, use emit.
//
// An event on Redis holds up to 64 MiB (organs.MaxEventBytes): any file
// within the Extractor's limits (8 MiB, 100,000 rows) fits, unless it is
// dense in characters JSON escapes to six bytes (<, >, &, control
// characters); such a job fails with a dead letter that says so.
package main

import (
	"flag"
	"log/slog"

	"github.com/necrostack/necrostack/apps/etl/organs"
	"github.com/necrostack/necrostack/worker"
)

func main() { worker.Main(app()) }

// stepsPerJob bounds a run (App.StepsPerSeed): a job is four events, and
// the chain never loops.
const stepsPerJob = 4

// app returns the program; each call has state of its own.
func app() worker.App {
	j := &job{}
	return worker.App{
		Name:          "etl",
		Summary:       "Loads a CSV file of haunting reports as one job (-input; default: the embedded sample) and prints a summary per location.",
		Stream:        "necrostack:etl",
		LogLevel:      slog.LevelWarn,
		MaxEventBytes: organs.MaxEventBytes,
		StepsPerSeed:  stepsPerJob,
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&j.input, "input", "", "CSV `file` of the job (default: the embedded sample of haunting reports)")
		},
		FlagModes: map[string][]worker.Mode{"input": {worker.ModeRun, worker.ModeEmit}}, // each job names its file
		Seeds:     j.seeds,
		Organs:    j.chain,
		Begin:     j.begin,
		End:       j.end,
	}
}
