package worker

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/necrostack/necrostack/core"
)

// maxInputLine bounds one line of -input: an event of the Redis backend's
// largest default size, with room for escaping.
const maxInputLine = 4 << 20

// seeds returns the events a run or an emit enqueues: the app's, or those
// read from -input.
func (p *Process) seeds() ([]core.Event, error) {
	if p.App.Seeds != nil {
		return p.App.Seeds(p)
	}
	var r io.Reader = os.Stdin
	name := "standard input"
	if p.Input != "-" {
		f, err := os.Open(p.Input)
		if err != nil {
			return nil, fmt.Errorf("-input: %w", err)
		}
		defer f.Close()
		r, name = f, p.Input
	}
	events, err := readEvents(r)
	if err != nil {
		return nil, fmt.Errorf("-input %s: %w", name, err)
	}
	return events, nil
}

// readEvents reads one event per line: its wire form, or only
// {"event_type": …, "payload": …}, which gets a new id and the time now.
// Blank lines are skipped; an error names the line.
func readEvents(r io.Reader) ([]core.Event, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxInputLine)
	var out []core.Event
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		e, err := parseEvent(line)
		if err != nil {
			return out, fmt.Errorf("line %d: %w", n, err)
		}
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		return out, err
	}
	return out, nil
}

func parseEvent(line []byte) (core.Event, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(line, &fields); err == nil {
		if _, full := fields["id"]; !full {
			var short struct {
				Type    string          `json:"event_type"`
				Payload json.RawMessage `json:"payload"`
			}
			dec := json.NewDecoder(bytes.NewReader(line))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&short); err != nil {
				return core.Event{}, fmt.Errorf("want an event, or {\"event_type\": …, \"payload\": {…}}: %w", err)
			}
			var payload any
			if len(short.Payload) > 0 {
				payload = short.Payload
			}
			return core.NewEvent(short.Type, payload)
		}
	}
	return core.DecodeEvent(line)
}
