package organs

import (
	"cmp"
	"context"
	"embed"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"

	"github.com/necrostack/necrostack/core"
)

// Limits of the Extractor, chosen so a whole file fits comfortably in one
// event held in memory.
const (
	DefaultMaxBytes = 8 << 20
	DefaultMaxRows  = 100_000
)

// SampleSource is the source name of the embedded sample in events and
// reports.
const SampleSource = "hauntings.csv (embedded sample)"

//go:embed sample/hauntings.csv
var sampleFS embed.FS

const samplePath = "sample/hauntings.csv"

// Extractor reads the CSV file named by an ETL_START event and emits its
// records as RAW_DATA_LOADED. It checks the header and the size; judging the
// rows is the Cleaner's job.
//
// The zero value reads paths of the operating system with the default
// limits.
type Extractor struct {
	// FS, when set, is where paths are opened, as fs.FS names. Default: the
	// operating system's file system, with paths as os.Open takes them.
	FS fs.FS
	// MaxBytes bounds the size of a file. Default DefaultMaxBytes.
	MaxBytes int64
	// MaxRows bounds the number of data rows. Default DefaultMaxRows.
	MaxRows int
}

var _ core.Organ = Extractor{}

// Listens returns ETL_START.
func (Extractor) Listens() []string { return []string{ETLStart.Type()} }

// Handle loads the file and emits RAW_DATA_LOADED.
func (x Extractor) Handle(ctx context.Context, e core.Event) ([]core.Event, error) {
	job, err := ETLStart.Decode(e)
	if err != nil {
		return nil, core.Permanent(err)
	}
	raw, err := x.load(ctx, job.Path)
	if err != nil {
		return nil, err
	}
	raw.JobID = e.ID()
	out, err := RawDataLoaded.New(raw)
	if err != nil {
		return nil, core.Permanent(err)
	}
	return core.Emit(out), nil
}

func (x Extractor) load(ctx context.Context, path string) (RawData, error) {
	fsys, name, source := x.FS, path, path
	if path == "" {
		fsys, name, source = sampleFS, samplePath, SampleSource
	}
	f, err := open(fsys, name)
	if err != nil {
		// Anything else (EIO, too many open files) may pass, so it is left
		// to the Spine's retries.
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) || errors.Is(err, fs.ErrInvalid) {
			err = core.Permanent(err)
		}
		return RawData{}, fmt.Errorf("extract: %w", err)
	}
	defer f.Close()

	info, err := f.Stat()
	if err != nil {
		return RawData{}, fmt.Errorf("extract %s: %w", source, err)
	}
	if info.IsDir() {
		return RawData{}, core.Permanent(fmt.Errorf("extract %s: is a directory, want a CSV file", source))
	}
	maxBytes := cmp.Or(x.MaxBytes, DefaultMaxBytes)
	tooBig := func() error {
		return core.Permanent(fmt.Errorf("extract %s: %w: over the %s limit", source, ErrTooLarge, byteSize(maxBytes)))
	}
	// The size of a pipe or a device means nothing: for those the limit is
	// enforced on the bytes read instead.
	if info.Mode().IsRegular() && info.Size() > maxBytes {
		return RawData{}, tooBig()
	}
	limited := &io.LimitedReader{R: f, N: maxBytes + 1}
	r := csv.NewReader(limited)
	r.FieldsPerRecord = -1 // a row of the wrong width is the Cleaner's to drop, not a reason to stop

	header, err := readHeader(r)
	if err != nil {
		if limited.N <= 0 {
			return RawData{}, tooBig()
		}
		return RawData{}, fmt.Errorf("extract %s: %w", source, err)
	}
	raw := RawData{Source: source, Header: header}
	maxRows := cmp.Or(x.MaxRows, DefaultMaxRows)
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if len(raw.Rows) == maxRows {
			return RawData{}, core.Permanent(fmt.Errorf("extract %s: %w: more than %d rows", source, ErrTooLarge, maxRows))
		}
		var perr *csv.ParseError
		switch {
		case errors.As(err, &perr):
			raw.Rows = append(raw.Rows, RawRow{Line: perr.StartLine, Error: perr.Err.Error()})
		case err != nil:
			return RawData{}, fmt.Errorf("extract %s: %w", source, err)
		default:
			line, _ := r.FieldPos(0)
			raw.Rows = append(raw.Rows, RawRow{Line: line, Fields: rec})
		}
		if len(raw.Rows)%4096 == 0 && ctx.Err() != nil {
			return RawData{}, ctx.Err()
		}
	}
	if limited.N <= 0 {
		return RawData{}, tooBig()
	}
	return raw, nil
}

// Check reports at once, without reading it, what would make Handle fail
// on path for good: a file that cannot be opened, or a directory. It lets
// a command refuse a job plainly before enqueueing it. The empty path (the
// sample) always passes.
func (x Extractor) Check(path string) error {
	if path == "" {
		return nil
	}
	f, err := open(x.FS, path)
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := f.Stat()
	if err == nil && info.IsDir() {
		err = fmt.Errorf("%s is a directory, want a CSV file", path)
	}
	return err
}

func open(fsys fs.FS, name string) (fs.File, error) {
	if fsys == nil {
		return os.Open(name)
	}
	return fsys.Open(name)
}

// readHeader reads the header and checks it names every column of Columns
// once. Names are compared trimmed and case-insensitively, and a UTF-8 byte
// order mark (as spreadsheet programs write) is ignored.
func readHeader(r *csv.Reader) ([]string, error) {
	rec, err := r.Read()
	if err == io.EOF {
		return nil, core.Permanent(fmt.Errorf("%w: the file is empty, want a header naming %s",
			ErrBadHeader, strings.Join(Columns, ", ")))
	}
	var perr *csv.ParseError
	if errors.As(err, &perr) {
		return nil, core.Permanent(fmt.Errorf("%w: %w", ErrBadHeader, err))
	}
	if err != nil {
		return nil, err
	}
	header := make([]string, len(rec))
	for i, h := range rec {
		if i == 0 {
			h = strings.TrimPrefix(h, "\ufeff")
		}
		header[i] = strings.ToLower(strings.TrimSpace(h))
	}
	if _, err := columnIndex(header); err != nil {
		return nil, core.Permanent(err)
	}
	return header, nil
}

// columnIndex maps each of Columns to its position in header.
func columnIndex(header []string) (map[string]int, error) {
	idx := make(map[string]int, len(Columns))
	var missing, dup []string
	for i, h := range header {
		if !slices.Contains(Columns, h) {
			continue
		}
		if _, seen := idx[h]; seen {
			dup = append(dup, h)
			continue
		}
		idx[h] = i
	}
	for _, c := range Columns {
		if _, ok := idx[c]; !ok {
			missing = append(missing, c)
		}
	}
	switch {
	case len(missing) > 0:
		return nil, fmt.Errorf("%w: missing columns %s (header has %s)",
			ErrBadHeader, strings.Join(missing, ", "), strings.Join(header, ", "))
	case len(dup) > 0:
		return nil, fmt.Errorf("%w: duplicate columns %s", ErrBadHeader, strings.Join(dup, ", "))
	}
	return idx, nil
}

func byteSize(n int64) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d-byte", n)
}
