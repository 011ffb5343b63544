package organs

import (
	"errors"
	"io"

	"github.com/necrostack/necrostack/core"
)

// Event kinds of the chain, in the order they occur.
var (
	ETLStart        = core.NewKind[Job]("ETL_START")
	RawDataLoaded   = core.NewKind[RawData]("RAW_DATA_LOADED")
	DataCleaned     = core.NewKind[CleanData]("DATA_CLEANED")
	DataTransformed = core.NewKind[Report]("DATA_TRANSFORMED")
)

// Errors the organs fail with, wrapped with the details. All of them are
// also marked core.Permanent: retrying cannot fix the input.
var (
	ErrBadHeader   = errors.New("bad header")
	ErrTooLarge    = errors.New("input too large")
	ErrNoValidRows = errors.New("no valid rows")
)

// Columns are the columns an input must have. Their order in the file does
// not matter.
var Columns = []string{"date", "location", "spirit", "sightings", "intensity"}

// DateLayout is the only date format accepted; ambiguous forms such as
// 01/02/2024 are rejected rather than guessed.
const DateLayout = "2006-01-02"

// Reasons a row is dropped.
const (
	ReasonMalformed   = "malformed_csv"      // the CSV syntax itself is broken
	ReasonColumnCount = "wrong_column_count" // more or fewer fields than the header
	ReasonMissing     = "missing_field"      // a required field is blank
	ReasonBadDate     = "bad_date"           // not a real date in DateLayout
	ReasonNotNumber   = "not_a_number"       // sightings or intensity is not numeric
	ReasonNegative    = "negative_count"     // sightings below zero
	ReasonOutOfRange  = "out_of_range"       // intensity outside [0, MaxIntensity]
)

// MaxIntensity is the top of the intensity scale; 0 is the bottom.
const MaxIntensity = 10.0

// Job is the payload of ETL_START.
type Job struct {
	// Path of the CSV file; empty means the embedded sample.
	Path string `json:"path,omitempty"`
}

// RawData is the payload of RAW_DATA_LOADED: the file as read, unjudged.
type RawData struct {
	// JobID is the id of the ETL_START the job began with; see JobOf.
	JobID  string   `json:"job_id,omitempty"`
	Source string   `json:"source"`
	Header []string `json:"header"` // trimmed and lower-cased
	Rows   []RawRow `json:"rows"`
}

// RawRow is one record of the file.
type RawRow struct {
	Line   int      `json:"line"` // 1-based line where the record starts
	Fields []string `json:"fields,omitempty"`
	// Error is set, and Fields empty, when the CSV syntax of the record is
	// broken; the Cleaner drops it with ReasonMalformed.
	Error string `json:"error,omitempty"`
}

// CleanData is the payload of DATA_CLEANED.
type CleanData struct {
	JobID   string      `json:"job_id,omitempty"` // as in RawData
	Source  string      `json:"source"`
	Read    int         `json:"read"` // data rows read, kept and dropped
	Rows    []Sighting  `json:"rows"`
	Dropped []Rejection `json:"dropped,omitempty"`
	// DroppedByReason totals Dropped per reason.
	DroppedByReason map[string]int `json:"dropped_by_reason,omitempty"`
}

// Sighting is a valid row.
type Sighting struct {
	Line      int     `json:"line"`
	Date      string  `json:"date"` // DateLayout
	Location  string  `json:"location"`
	Spirit    string  `json:"spirit"`
	Sightings int     `json:"sightings"`
	Intensity float64 `json:"intensity"`
}

// Rejection says why a row was dropped.
type Rejection struct {
	Line   int    `json:"line"`
	Reason string `json:"reason"` // one of the Reason constants
	Detail string `json:"detail"`
}

// Report is the payload of DATA_TRANSFORMED.
type Report struct {
	JobID   string      `json:"job_id,omitempty"` // as in RawData
	Source  string      `json:"source"`
	Read    int         `json:"read"`
	Dropped []Rejection `json:"dropped,omitempty"`
	// DroppedByReason totals Dropped per reason.
	DroppedByReason map[string]int  `json:"dropped_by_reason,omitempty"`
	From            string          `json:"from"` // earliest date, DateLayout
	To              string          `json:"to"`   // latest date
	Locations       []LocationStats `json:"locations"`
	Total           Stats           `json:"total"`
}

// LocationStats are the Stats of one location.
type LocationStats struct {
	Location string `json:"location"`
	Stats
}

// Stats aggregates a group of sightings.
type Stats struct {
	Rows          int     `json:"rows"`
	Sightings     int     `json:"sightings"`
	MeanIntensity float64 `json:"mean_intensity"` // per row, unweighted
	MaxIntensity  float64 `json:"max_intensity"`
	// TopSpirit has the most sightings in the group; ties go to the name
	// that sorts first, so reports are reproducible.
	TopSpirit string `json:"top_spirit"`
}

// JobOf returns the job e belongs to: its own id for an ETL_START, the JobID
// of its payload for the later events of the chain, and "" for events of
// other types, events built without a job and payloads that do not decode.
func JobOf(e core.Event) string {
	switch e.Type() {
	case ETLStart.Type():
		return e.ID()
	case RawDataLoaded.Type(), DataCleaned.Type(), DataTransformed.Type():
		var p struct {
			JobID string `json:"job_id"`
		}
		if e.DecodePayload(&p) != nil {
			return ""
		}
		return p.JobID
	}
	return ""
}

// Chain returns the organs of the ETL chain in order, with defaults, the
// Reporter writing to w.
func Chain(w io.Writer) []core.Organ {
	return []core.Organ{Extractor{}, Cleaner{}, Transformer{}, &Reporter{Out: w}}
}
