package organs

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/necrostack/necrostack/core"
)

// Reporter writes each DATA_TRANSFORMED as a summary table to Out. It ends
// the chain: it emits nothing.
//
// A Reporter is safe for concurrent use; reports never interleave. Use it by
// pointer.
type Reporter struct {
	// Out receives the reports. Default os.Stdout.
	Out io.Writer

	mu sync.Mutex
}

var _ core.Organ = (*Reporter)(nil)

// Listens returns DATA_TRANSFORMED.
func (*Reporter) Listens() []string { return []string{DataTransformed.Type()} }

// Handle writes the report.
func (r *Reporter) Handle(_ context.Context, e core.Event) ([]core.Event, error) {
	rep, err := DataTransformed.Decode(e)
	if err != nil {
		return nil, core.Permanent(err)
	}
	var b bytes.Buffer
	writeReport(&b, rep)

	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.Out
	if out == nil {
		out = os.Stdout
	}
	// Permanent because a retry would print again whatever part of the
	// report did get through.
	if _, err := out.Write(b.Bytes()); err != nil {
		return nil, core.Permanent(fmt.Errorf("report %s: %w", rep.Source, err))
	}
	return nil, nil
}

func writeReport(b *bytes.Buffer, rep Report) {
	fmt.Fprintf(b, "Haunting report: %s\n", rep.Source)
	fmt.Fprintf(b, "%s read: %d kept, %d dropped\n", plural(rep.Read, "row"), rep.Total.Rows, len(rep.Dropped))
	fmt.Fprintf(b, "Dates: %s to %s\n\n", rep.From, rep.To)

	rows := [][]string{{"LOCATION", "ROWS", "SIGHTINGS", "MEAN INTENSITY", "MAX INTENSITY", "TOP SPIRIT"}}
	statsRow := func(name string, s Stats) []string {
		return []string{
			name, strconv.Itoa(s.Rows), strconv.Itoa(s.Sightings),
			fmt.Sprintf("%.2f", s.MeanIntensity), fmt.Sprintf("%.2f", s.MaxIntensity), s.TopSpirit,
		}
	}
	for _, l := range rep.Locations {
		rows = append(rows, statsRow(l.Location, l.Stats))
	}
	rows = append(rows, nil, statsRow("TOTAL", rep.Total))
	writeTable(b, []bool{false, true, true, true, true, false}, rows)

	if len(rep.Dropped) == 0 {
		return
	}
	b.WriteString("\nDropped rows:\n")
	rows = [][]string{{"LINE", "REASON", "DETAIL"}}
	for _, d := range rep.Dropped {
		rows = append(rows, []string{strconv.Itoa(d.Line), d.Reason, d.Detail})
	}
	writeTable(b, []bool{true, false, false}, rows)
	fmt.Fprintf(b, "Dropped per reason: %s\n", reasonTotals(rep.DroppedByReason))
}

// writeTable writes rows as aligned columns two spaces apart; a nil row is a
// rule. The last column is not padded, so no line ends in spaces.
func writeTable(b *bytes.Buffer, right []bool, rows [][]string) {
	widths := make([]int, len(right))
	for _, row := range rows {
		for i, cell := range row {
			widths[i] = max(widths[i], utf8.RuneCountInString(cell))
		}
	}
	total := 2 * (len(widths) - 1)
	for _, w := range widths {
		total += w
	}
	for _, row := range rows {
		if row == nil {
			b.WriteString(strings.Repeat("-", total) + "\n")
			continue
		}
		for i, cell := range row {
			pad := strings.Repeat(" ", widths[i]-utf8.RuneCountInString(cell))
			switch {
			case right[i]:
				b.WriteString(pad + cell)
			case i == len(row)-1:
				b.WriteString(cell)
			default:
				b.WriteString(cell + pad)
			}
			if i < len(row)-1 {
				b.WriteString("  ")
			}
		}
		b.WriteByte('\n')
	}
}
