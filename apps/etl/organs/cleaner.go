package organs

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/necrostack/necrostack/core"
)

// Cleaner turns RAW_DATA_LOADED into DATA_CLEANED: it keeps the rows that
// parse and are in range, and records every other one with its line and
// reason. A file with no valid row fails with ErrNoValidRows.
type Cleaner struct{}

var _ core.Organ = Cleaner{}

// Listens returns RAW_DATA_LOADED.
func (Cleaner) Listens() []string { return []string{RawDataLoaded.Type()} }

// Handle cleans the rows and emits DATA_CLEANED.
func (Cleaner) Handle(_ context.Context, e core.Event) ([]core.Event, error) {
	raw, err := RawDataLoaded.Decode(e)
	if err != nil {
		return nil, core.Permanent(err)
	}
	clean, err := cleanRows(raw)
	if err != nil {
		return nil, core.Permanent(err)
	}
	out, err := DataCleaned.New(clean)
	if err != nil {
		return nil, core.Permanent(err)
	}
	return core.Emit(out), nil
}

func cleanRows(raw RawData) (CleanData, error) {
	col, err := columnIndex(raw.Header)
	if err != nil {
		return CleanData{}, fmt.Errorf("clean %s: %w", raw.Source, err)
	}
	out := CleanData{JobID: raw.JobID, Source: raw.Source, Read: len(raw.Rows)}
	for _, row := range raw.Rows {
		s, rej := parseRow(row, col, len(raw.Header))
		if rej != nil {
			out.Dropped = append(out.Dropped, *rej)
			if out.DroppedByReason == nil {
				out.DroppedByReason = make(map[string]int)
			}
			out.DroppedByReason[rej.Reason]++
			continue
		}
		out.Rows = append(out.Rows, s)
	}
	if len(out.Rows) == 0 {
		return CleanData{}, noValidRows(out.Source, out.Read, out.DroppedByReason)
	}
	return out, nil
}

// parseRow returns the Sighting in row, or why it is dropped. Checks run in
// a fixed order so a row with several faults always gets the same reason.
func parseRow(row RawRow, col map[string]int, width int) (Sighting, *Rejection) {
	reject := func(reason, format string, args ...any) (Sighting, *Rejection) {
		return Sighting{}, &Rejection{Line: row.Line, Reason: reason, Detail: fmt.Sprintf(format, args...)}
	}
	if row.Error != "" {
		return reject(ReasonMalformed, "%s", row.Error)
	}
	if len(row.Fields) != width {
		return reject(ReasonColumnCount, "%d fields, header has %d", len(row.Fields), width)
	}
	field := func(name string) string { return strings.TrimSpace(row.Fields[col[name]]) }
	for _, c := range Columns {
		if field(c) == "" {
			return reject(ReasonMissing, "%s is blank", c)
		}
	}
	date, err := time.Parse(DateLayout, field("date"))
	if err != nil {
		return reject(ReasonBadDate, "date %q is not a real date in YYYY-MM-DD form", field("date"))
	}
	n, err := strconv.Atoi(field("sightings"))
	if err != nil {
		return reject(ReasonNotNumber, "sightings %q is not a whole number", field("sightings"))
	}
	if n < 0 {
		return reject(ReasonNegative, "sightings %d is below zero", n)
	}
	x, err := strconv.ParseFloat(field("intensity"), 64)
	if err != nil || math.IsNaN(x) {
		return reject(ReasonNotNumber, "intensity %q is not a number", field("intensity"))
	}
	if x < 0 || x > MaxIntensity {
		return reject(ReasonOutOfRange, "intensity %s is outside 0..%g", field("intensity"), MaxIntensity)
	}
	return Sighting{
		Line:      row.Line,
		Date:      date.Format(DateLayout),
		Location:  field("location"),
		Spirit:    field("spirit"),
		Sightings: n,
		Intensity: x,
	}, nil
}

func noValidRows(source string, read int, byReason map[string]int) error {
	if read == 0 {
		return fmt.Errorf("%w in %s (the file has no data rows)", ErrNoValidRows, source)
	}
	return fmt.Errorf("%w in %s (%s dropped: %s)", ErrNoValidRows, source, plural(read, "row"), reasonTotals(byReason))
}

// reasonTotals renders the counts per reason, sorted by reason.
func reasonTotals(byReason map[string]int) string {
	var b strings.Builder
	for i, r := range slices.Sorted(maps.Keys(byReason)) {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %d", r, byReason[r])
	}
	return b.String()
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}
