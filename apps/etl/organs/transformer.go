package organs

import (
	"context"
	"maps"
	"slices"

	"github.com/necrostack/necrostack/core"
)

// Transformer turns DATA_CLEANED into DATA_TRANSFORMED: Stats per location,
// sorted by location, and for the whole file.
type Transformer struct{}

var _ core.Organ = Transformer{}

// Listens returns DATA_CLEANED.
func (Transformer) Listens() []string { return []string{DataCleaned.Type()} }

// Handle aggregates the rows and emits DATA_TRANSFORMED.
func (Transformer) Handle(_ context.Context, e core.Event) ([]core.Event, error) {
	clean, err := DataCleaned.Decode(e)
	if err != nil {
		return nil, core.Permanent(err)
	}
	// The Cleaner never emits an empty set, but DATA_CLEANED may come from
	// elsewhere, and a mean over nothing is not a number.
	if len(clean.Rows) == 0 {
		return nil, core.Permanent(noValidRows(clean.Source, clean.Read, clean.DroppedByReason))
	}
	out, err := DataTransformed.New(transform(clean))
	if err != nil {
		return nil, core.Permanent(err)
	}
	return core.Emit(out), nil
}

// transform needs at least one row.
func transform(c CleanData) Report {
	rep := Report{
		JobID:           c.JobID,
		Source:          c.Source,
		Read:            c.Read,
		Dropped:         c.Dropped,
		DroppedByReason: c.DroppedByReason,
		From:            c.Rows[0].Date,
		To:              c.Rows[0].Date,
		Total:           stats(c.Rows),
	}
	byLocation := make(map[string][]Sighting)
	for _, s := range c.Rows {
		byLocation[s.Location] = append(byLocation[s.Location], s)
		// DateLayout sorts like the dates it writes.
		rep.From = min(rep.From, s.Date)
		rep.To = max(rep.To, s.Date)
	}
	for _, loc := range slices.Sorted(maps.Keys(byLocation)) {
		rep.Locations = append(rep.Locations, LocationStats{Location: loc, Stats: stats(byLocation[loc])})
	}
	return rep
}

func stats(rows []Sighting) Stats {
	var st Stats
	var sum float64
	perSpirit := make(map[string]int)
	for i, s := range rows {
		st.Rows++
		st.Sightings += s.Sightings
		sum += s.Intensity
		if i == 0 || s.Intensity > st.MaxIntensity {
			st.MaxIntensity = s.Intensity
		}
		perSpirit[s.Spirit] += s.Sightings
	}
	st.MeanIntensity = sum / float64(len(rows))
	best := -1
	for _, name := range slices.Sorted(maps.Keys(perSpirit)) {
		if perSpirit[name] > best {
			st.TopSpirit, best = name, perSpirit[name]
		}
	}
	return st
}
