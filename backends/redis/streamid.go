package redis

import (
	"fmt"
	"strconv"
	"strings"
)

// streamID is a parsed stream entry id, "<ms>-<seq>": commits find the range
// of their receipts with it, take-back pages through what is pending, trim
// computes its cut and redrive its end.
type streamID struct{ ms, seq uint64 }

func parseStreamID(s string) (streamID, error) {
	msPart, seqPart, ok := strings.Cut(s, "-")
	ms, err1 := strconv.ParseUint(msPart, 10, 64)
	seq, err2 := strconv.ParseUint(seqPart, 10, 64)
	if !ok || err1 != nil || err2 != nil {
		return streamID{}, fmt.Errorf("bad stream id %q", s)
	}
	return streamID{ms, seq}, nil
}

func (id streamID) String() string {
	var b [41]byte
	out := strconv.AppendUint(b[:0], id.ms, 10)
	out = append(out, '-')
	return string(strconv.AppendUint(out, id.seq, 10))
}

func (id streamID) less(o streamID) bool {
	return id.ms < o.ms || (id.ms == o.ms && id.seq < o.seq)
}

// next returns the smallest id after id.
func (id streamID) next() streamID {
	if id.seq == ^uint64(0) {
		return streamID{ms: id.ms + 1}
	}
	return streamID{id.ms, id.seq + 1}
}

// prev returns the greatest id before id (0-0 for 0-0).
func (id streamID) prev() streamID {
	switch {
	case id.seq > 0:
		return streamID{id.ms, id.seq - 1}
	case id.ms > 0:
		return streamID{id.ms - 1, ^uint64(0)}
	}
	return id
}
