package organs

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/necrostack/necrostack/core"
)

// writeTemp writes content to a new file in a temporary directory and
// returns its path.
func writeTemp(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "input.csv")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// extract runs x on an ETL_START for path and decodes what it emitted.
func extract(t *testing.T, x Extractor, path string) (RawData, error) {
	t.Helper()
	start, err := ETLStart.New(Job{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	out, err := x.Handle(context.Background(), start)
	if err != nil {
		return RawData{}, err
	}
	if len(out) != 1 {
		t.Fatalf("emitted %d events, want 1", len(out))
	}
	raw, err := RawDataLoaded.Decode(out[0])
	if err != nil {
		t.Fatal(err)
	}
	return raw, nil
}

func TestExtractorSample(t *testing.T) {
	t.Parallel()
	raw, err := extract(t, Extractor{}, "")
	if err != nil {
		t.Fatal(err)
	}
	if raw.Source != SampleSource {
		t.Errorf("Source = %q, want %q", raw.Source, SampleSource)
	}
	if !slices.Equal(raw.Header, Columns) {
		t.Errorf("Header = %q, want %q", raw.Header, Columns)
	}
	if got, want := len(raw.Rows), 55; got != want {
		t.Fatalf("%d rows, want %d", got, want)
	}
	first := raw.Rows[0]
	if first.Line != 2 || first.Fields[1] != "Ravenscroft Abbey, East Wing" {
		t.Errorf("first row = %+v, want line 2 with the quoted location unsplit", first)
	}
	if last := raw.Rows[len(raw.Rows)-1]; last.Line != 56 {
		t.Errorf("last row on line %d, want 56", last.Line)
	}
	for _, r := range raw.Rows {
		if r.Line == 24 && len(r.Fields) != 6 || r.Line == 36 && len(r.Fields) != 3 {
			t.Errorf("row on line %d has %d fields; the extractor must pass rows of any width on", r.Line, len(r.Fields))
		}
	}
}

func TestExtractorFile(t *testing.T) {
	t.Parallel()
	path := writeTemp(t, "\ufeffIntensity, Spirit ,DATE,notes,location,Sightings\n"+
		"4.5,Banshee,2024-10-31,,Crypt,3\n"+
		"\n"+
		"1,Wr\"aith,2024-11-01,,Crypt,1\n"+
		"2,Ghoul,2024-11-02,\"two\nlines\",Belfry,2\n")
	raw, err := extract(t, Extractor{}, path)
	if err != nil {
		t.Fatal(err)
	}
	if raw.Source != path {
		t.Errorf("Source = %q, want %q", raw.Source, path)
	}
	wantHeader := []string{"intensity", "spirit", "date", "notes", "location", "sightings"}
	if !slices.Equal(raw.Header, wantHeader) {
		t.Errorf("Header = %q, want %q", raw.Header, wantHeader)
	}
	if len(raw.Rows) != 3 {
		t.Fatalf("rows = %+v, want 3", raw.Rows)
	}
	if r := raw.Rows[0]; r.Line != 2 || r.Fields[1] != "Banshee" || r.Error != "" {
		t.Errorf("row 0 = %+v, want line 2, Banshee", r)
	}
	if r := raw.Rows[1]; r.Line != 4 || r.Error == "" || r.Fields != nil {
		t.Errorf("row 1 = %+v, want line 4 with a CSV syntax error and no fields", r)
	}
	if r := raw.Rows[2]; r.Line != 5 || r.Fields[3] != "two\nlines" {
		t.Errorf("row 2 = %+v, want line 5 with a two-line field", r)
	}
}

func TestExtractorErrors(t *testing.T) {
	t.Parallel()
	const good = "date,location,spirit,sightings,intensity\n2024-10-31,Crypt,Banshee,3,4.5\n"
	big := good + strings.Repeat("2024-10-31,Crypt,Banshee,3,4.5\n", 10)
	tests := []struct {
		name     string
		x        Extractor
		path     func(t *testing.T) string
		wantIs   error
		wantText []string
	}{
		{
			name:     "missing file",
			path:     func(t *testing.T) string { return filepath.Join(t.TempDir(), "nope.csv") },
			wantIs:   fs.ErrNotExist,
			wantText: []string{"nope.csv", "no such file"},
		},
		{
			name:     "directory",
			path:     func(t *testing.T) string { return t.TempDir() },
			wantText: []string{"is a directory"},
		},
		{
			name:     "empty file",
			path:     func(t *testing.T) string { return writeTemp(t, "") },
			wantIs:   ErrBadHeader,
			wantText: []string{"input.csv", "empty"},
		},
		{
			name:     "missing columns",
			path:     func(t *testing.T) string { return writeTemp(t, "date,place,spirit,count,intensity\n") },
			wantIs:   ErrBadHeader,
			wantText: []string{"input.csv", "missing columns location, sightings", "header has date, place, spirit, count, intensity"},
		},
		{
			name:     "duplicate column",
			path:     func(t *testing.T) string { return writeTemp(t, "date,location,spirit,sightings,intensity,date\n") },
			wantIs:   ErrBadHeader,
			wantText: []string{"duplicate columns date"},
		},
		{
			name:     "broken header",
			path:     func(t *testing.T) string { return writeTemp(t, "date,\"location,spirit\n") },
			wantIs:   ErrBadHeader,
			wantText: []string{"input.csv"},
		},
		{
			name:     "over the byte limit",
			x:        Extractor{MaxBytes: 64},
			path:     func(t *testing.T) string { return writeTemp(t, big) },
			wantIs:   ErrTooLarge,
			wantText: []string{"input.csv", "over the 64-byte limit"},
		},
		{
			name: "over the byte limit, size unknown",
			x: Extractor{MaxBytes: 64, FS: fstest.MapFS{
				"pipe": {Data: []byte(big), Mode: fs.ModeNamedPipe},
			}},
			path:     func(*testing.T) string { return "pipe" },
			wantIs:   ErrTooLarge,
			wantText: []string{"over the 64-byte limit"},
		},
		{
			name:     "over the row limit",
			x:        Extractor{MaxRows: 2},
			path:     func(t *testing.T) string { return writeTemp(t, big) },
			wantIs:   ErrTooLarge,
			wantText: []string{"input.csv", "more than 2 rows"},
		},
		{
			name:     "default byte limit",
			path:     func(t *testing.T) string { return bigFile(t, DefaultMaxBytes+1) },
			wantIs:   ErrTooLarge,
			wantText: []string{"over the 8 MiB limit"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := extract(t, tt.x, tt.path(t))
			if err == nil {
				t.Fatal("got no error")
			}
			if !errors.Is(err, core.ErrPermanent) {
				t.Errorf("error %q is not permanent; retrying cannot fix it", err)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("error %q does not match %v", err, tt.wantIs)
			}
			for _, s := range tt.wantText {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
		})
	}
}

// bigFile makes a sparse file of size bytes, so the test writes nothing.
func bigFile(t *testing.T, size int64) string {
	t.Helper()
	path := writeTemp(t, "date,location,spirit,sightings,intensity\n")
	if err := os.Truncate(path, size); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestExtractorBadPayload(t *testing.T) {
	t.Parallel()
	e := core.MustEvent(ETLStart.Type(), map[string]any{"path": 42})
	_, err := Extractor{}.Handle(context.Background(), e)
	if !errors.Is(err, core.ErrPermanent) {
		t.Errorf("got %v, want a permanent error", err)
	}
}

// Check refuses at once, with plain messages, what Handle would fail on for
// good when opening the file, and passes anything it could open.
func TestExtractorCheck(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.csv")
	tests := []struct {
		name    string
		x       Extractor
		path    string
		wantErr string // "" for none
		wantIs  error
	}{
		{name: "sample", path: ""},
		{name: "file", path: writeTemp(t, "not even a header")},
		{name: "missing file", path: missing, wantErr: "open " + missing + ": no such file or directory", wantIs: fs.ErrNotExist},
		{name: "directory", path: dir, wantErr: dir + " is a directory, want a CSV file"},
		{name: "in an FS", x: Extractor{FS: fstest.MapFS{"a.csv": {Data: []byte("x")}}}, path: "a.csv"},
		{name: "missing in an FS", x: Extractor{FS: fstest.MapFS{}}, path: "b.csv", wantErr: "open b.csv: file does not exist", wantIs: fs.ErrNotExist},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.x.Check(tt.path)
			if tt.wantErr == "" {
				if err != nil {
					t.Errorf("Check(%q) = %v, want nil", tt.path, err)
				}
				return
			}
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("Check(%q) = %v, want %q", tt.path, err, tt.wantErr)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("Check(%q) = %v, want it to match %v", tt.path, err, tt.wantIs)
			}
		})
	}
}
