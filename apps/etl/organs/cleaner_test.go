package organs

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/necrostack/necrostack/core"
)

func TestParseRow(t *testing.T) {
	t.Parallel()
	col, err := columnIndex(Columns)
	if err != nil {
		t.Fatal(err)
	}
	row := func(fields ...string) RawRow { return RawRow{Line: 7, Fields: fields} }
	tests := []struct {
		name       string
		row        RawRow
		wantReason string // "" means the row is kept
		wantDetail string
	}{
		{"valid", row("2024-10-31", "Crypt", "Banshee", "3", "4.5"), "", ""},
		{"valid bounds, spaces trimmed", row(" 2024-02-29 ", " Crypt ", "Banshee", " 0 ", "10"), "", ""},
		{"malformed CSV", RawRow{Line: 7, Error: `bare " in non-quoted-field`}, ReasonMalformed, `bare "`},
		{"too many fields", row("2024-10-31", "Crypt", "Banshee", "3", "4.5", "extra"), ReasonColumnCount, "6 fields, header has 5"},
		{"too few fields", row("2024-10-31", "Crypt", "Banshee"), ReasonColumnCount, "3 fields, header has 5"},
		{"blank spirit", row("2024-10-31", "Crypt", "", "3", "4.5"), ReasonMissing, "spirit is blank"},
		{"whitespace location", row("2024-10-31", "   ", "Banshee", "3", "4.5"), ReasonMissing, "location is blank"},
		{"no such day", row("2024-02-30", "Crypt", "Banshee", "3", "4.5"), ReasonBadDate, `"2024-02-30"`},
		{"not leap year", row("2023-02-29", "Crypt", "Banshee", "3", "4.5"), ReasonBadDate, `"2023-02-29"`},
		{"day first", row("31/10/2024", "Crypt", "Banshee", "3", "4.5"), ReasonBadDate, `"31/10/2024"`},
		{"sightings in words", row("2024-10-31", "Crypt", "Banshee", "several", "4.5"), ReasonNotNumber, `sightings "several"`},
		{"fractional sightings", row("2024-10-31", "Crypt", "Banshee", "2.5", "4.5"), ReasonNotNumber, `sightings "2.5"`},
		{"negative sightings", row("2024-10-31", "Crypt", "Banshee", "-3", "4.5"), ReasonNegative, "sightings -3 is below zero"},
		{"intensity in words", row("2024-10-31", "Crypt", "Banshee", "3", "eerie"), ReasonNotNumber, `intensity "eerie"`},
		{"intensity NaN", row("2024-10-31", "Crypt", "Banshee", "3", "NaN"), ReasonNotNumber, `intensity "NaN"`},
		{"intensity too high", row("2024-10-31", "Crypt", "Banshee", "3", "11.5"), ReasonOutOfRange, "intensity 11.5 is outside 0..10"},
		{"intensity negative", row("2024-10-31", "Crypt", "Banshee", "3", "-0.1"), ReasonOutOfRange, "intensity -0.1"},
		{"intensity infinite", row("2024-10-31", "Crypt", "Banshee", "3", "+Inf"), ReasonOutOfRange, "intensity +Inf"},
		{"first fault wins", row("bad", "Crypt", "Banshee", "-1", "99"), ReasonBadDate, `"bad"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, rej := parseRow(tt.row, col, len(Columns))
			if tt.wantReason == "" {
				if rej != nil {
					t.Fatalf("row dropped: %+v, want it kept", *rej)
				}
				if s.Line != 7 || s.Location != "Crypt" || s.Spirit != "Banshee" {
					t.Errorf("kept %+v, want line 7, Crypt, Banshee", s)
				}
				return
			}
			if rej == nil {
				t.Fatalf("row kept as %+v, want %s", s, tt.wantReason)
			}
			if rej.Line != 7 || rej.Reason != tt.wantReason || !strings.Contains(rej.Detail, tt.wantDetail) {
				t.Errorf("got %+v, want line 7, reason %s, detail containing %q", *rej, tt.wantReason, tt.wantDetail)
			}
		})
	}
}

func TestCleanerHandle(t *testing.T) {
	t.Parallel()
	raw := RawData{
		Source: "mixed.csv",
		// A different column order than Columns: the Cleaner goes by name.
		Header: []string{"spirit", "date", "location", "sightings", "intensity"},
		Rows: []RawRow{
			{Line: 2, Fields: []string{"Banshee", "2024-10-31", "Crypt", "3", "4.5"}},
			{Line: 3, Fields: []string{"Wraith", "2024-13-01", "Crypt", "1", "2"}},
			{Line: 4, Fields: []string{"Ghoul", "2024-11-02", "Belfry", "x", "2"}},
			{Line: 6, Fields: []string{"Ghoul", "2024-11-03", "Belfry", "1", "2.25"}},
			{Line: 7, Fields: []string{"Ghoul", "2024-11-04", "Belfry"}},
			{Line: 8, Fields: []string{"Ghoul", "2024-11-05", "Belfry", "y", "2"}},
		},
	}
	out, err := Cleaner{}.Handle(context.Background(), mustNew(t, RawDataLoaded, raw))
	if err != nil {
		t.Fatal(err)
	}
	got, err := DataCleaned.Decode(out[0])
	if err != nil {
		t.Fatal(err)
	}
	wantRows := []Sighting{
		{Line: 2, Date: "2024-10-31", Location: "Crypt", Spirit: "Banshee", Sightings: 3, Intensity: 4.5},
		{Line: 6, Date: "2024-11-03", Location: "Belfry", Spirit: "Ghoul", Sightings: 1, Intensity: 2.25},
	}
	if got.Source != "mixed.csv" || got.Read != 6 || !slices.Equal(got.Rows, wantRows) {
		t.Errorf("got source %q, read %d, rows %+v\nwant mixed.csv, 6, %+v", got.Source, got.Read, got.Rows, wantRows)
	}
	var lines []int
	var reasons []string
	for _, d := range got.Dropped {
		lines, reasons = append(lines, d.Line), append(reasons, d.Reason)
	}
	if want := []int{3, 4, 7, 8}; !slices.Equal(lines, want) {
		t.Errorf("dropped lines %v, want %v", lines, want)
	}
	if want := []string{ReasonBadDate, ReasonNotNumber, ReasonColumnCount, ReasonNotNumber}; !slices.Equal(reasons, want) {
		t.Errorf("dropped reasons %v, want %v", reasons, want)
	}
	wantTotals := map[string]int{ReasonBadDate: 1, ReasonNotNumber: 2, ReasonColumnCount: 1}
	if !maps.Equal(got.DroppedByReason, wantTotals) {
		t.Errorf("DroppedByReason = %v, want %v", got.DroppedByReason, wantTotals)
	}
}

func TestCleanerNoValidRows(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		rows    []RawRow
		wantMsg string
	}{
		{
			name: "all invalid",
			rows: []RawRow{
				{Line: 2, Fields: []string{"2024-02-30", "Crypt", "Banshee", "3", "4.5"}},
				{Line: 3, Fields: []string{"2024-10-31", "Crypt", "", "3", "4.5"}},
				{Line: 4, Fields: []string{"2024-10-31", "Crypt", "Banshee", "3", "12"}},
				{Line: 5, Fields: []string{"2024-10-31", "Crypt", "", "3", "4.5"}},
			},
			wantMsg: "no valid rows in ghosts.csv (4 rows dropped: bad_date 1, missing_field 2, out_of_range 1)",
		},
		{
			name:    "one invalid",
			rows:    []RawRow{{Line: 2, Error: "broken"}},
			wantMsg: "no valid rows in ghosts.csv (1 row dropped: malformed_csv 1)",
		},
		{
			name:    "header only",
			wantMsg: "no valid rows in ghosts.csv (the file has no data rows)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			raw := RawData{Source: "ghosts.csv", Header: Columns, Rows: tt.rows}
			out, err := Cleaner{}.Handle(context.Background(), mustNew(t, RawDataLoaded, raw))
			if err == nil {
				t.Fatalf("emitted %v, want an error", out)
			}
			if !errors.Is(err, ErrNoValidRows) || !errors.Is(err, core.ErrPermanent) {
				t.Errorf("error %q: want ErrNoValidRows, permanent", err)
			}
			if err.Error() != tt.wantMsg {
				t.Errorf("error:\n got  %q\n want %q", err, tt.wantMsg)
			}
		})
	}
}

func TestCleanerBadHeader(t *testing.T) {
	t.Parallel()
	raw := RawData{Source: "odd.csv", Header: []string{"date", "spirit"}}
	_, err := Cleaner{}.Handle(context.Background(), mustNew(t, RawDataLoaded, raw))
	if !errors.Is(err, ErrBadHeader) || !errors.Is(err, core.ErrPermanent) {
		t.Fatalf("got %v, want a permanent ErrBadHeader", err)
	}
	if want := "clean odd.csv: bad header: missing columns location, sightings, intensity"; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error:\n got  %q\n want prefix %q", err, want)
	}
}

func mustNew[T any](t *testing.T, k core.Kind[T], payload T) core.Event {
	t.Helper()
	e, err := k.New(payload)
	if err != nil {
		t.Fatal(err)
	}
	return e
}
