// Package organs holds the organs of the NecroStack ETL demo: a four-step
// chain that loads a CSV of haunting reports, drops the rows it cannot trust,
// aggregates the rest per location and prints a summary table.
//
// # Chain
//
//	ETL_START ──Extractor──▶ RAW_DATA_LOADED ──Cleaner──▶ DATA_CLEANED
//	          ──Transformer──▶ DATA_TRANSFORMED ──Reporter──▶ (summary on an io.Writer)
//
// Each event type has a typed [core.Kind] ([ETLStart], [RawDataLoaded],
// [DataCleaned], [DataTransformed]); [Chain] returns the four organs in order.
//
// # Jobs
//
// A job is one ETL_START and the events that follow from it. Its id is the
// id of that ETL_START event, which each later event carries in the JobID
// field of its payload, so that a process sharing a stream with other jobs
// (the Redis backend) can tell its own events and dead letters apart: see
// [JobOf]. A redriven event keeps its id, and so its job.
//
// # Input
//
// A CSV file with a header naming the columns date, location, spirit,
// sightings and intensity, in any order and any case; other columns are
// ignored. An empty path means the sample shipped in the package
// (sample/hauntings.csv), which holds a few invalid rows on purpose.
//
// # Failures
//
// Bad rows are not failures: the Cleaner drops them and the report lists
// each one with its line and reason. What no retry can fix fails the organ
// with a [core.Permanent] error, so the Spine dead-letters the event at once:
// a missing or unreadable file, a header without the required columns
// ([ErrBadHeader]), a file over the size or row limit ([ErrTooLarge]), and a
// file with no valid row at all ([ErrNoValidRows]).
package organs
