package bench

import (
	"context"
	"sync"
	"time"
)

// The séance chain, shared by both systems: four stages, each decoding the
// ritual, adding one field and passing it on; the last (the Scribe) records
// the omen. What each stage adds is chosen from the ritual number, so a run is
// deterministic and costs no allocation beyond the frameworks' own.

// Ritual is the payload of every event in the chain. The Summoner adds the
// spirit, the Medium the answer, the Oracle the omen.
type Ritual struct {
	Ritual     int    `json:"ritual"`      // 0 … rituals-1, unique within a run
	Seeker     string `json:"seeker"`      // who asks
	Question   string `json:"question"`    // what they ask
	EnqueuedNS int64  `json:"enqueued_ns"` // wall clock (unix nanoseconds) when the seed was enqueued
	Spirit     string `json:"spirit,omitempty"`
	Answer     string `json:"answer,omitempty"`
	Omen       string `json:"omen,omitempty"`
}

// Event types, which are also the Watermill topics (prefixed by the stream
// key on Redis).
const (
	typeSummon = "SUMMON_RITUAL"
	typeSpirit = "SPIRIT_APPEARED"
	typeAnswer = "ANSWER_GENERATED"
	typeOmen   = "OMEN_REVEALED"
)

// Stages, in chain order; each indexes recorder.handled.
const (
	stageSummoner = iota
	stageMedium
	stageOracle
	stageScribe
	stages
)

var (
	seekers   = [...]string{"Mina", "Jonathan", "Lucy", "Abraham", "Arthur", "Quincey", "Renfield"}
	questions = [...]string{
		"Who walks the east corridor at midnight?",
		"Where did the ship's captain go?",
		"What waits beneath the chapel?",
		"Why do the dogs howl at dusk?",
		"When will the fog lift?",
	}
	spirits = [...]string{"Banquo", "The Grey Lady", "Old Tom", "The Drowned Bride", "Brother Ambrose", "The Piper"}
	answers = [...]string{
		"The door is already open.",
		"He never left the harbour.",
		"Something older than the stones.",
		"They smell what you cannot.",
		"Not before the third bell.",
	}
	omens = [...]string{"A raven at the window.", "A candle that will not light.", "Salt spilled twice.", "A clock that runs backwards."}
)

// seed returns ritual n as the producer enqueues it.
func seed(n int, enqueuedNS int64) Ritual {
	return Ritual{Ritual: n, Seeker: seekers[n%len(seekers)], Question: questions[n%len(questions)], EnqueuedNS: enqueuedNS}
}

// The stage functions: what each organ adds.
func summon(r *Ritual)  { r.Spirit = spirits[(r.Ritual*7)%len(spirits)] }
func channel(r *Ritual) { r.Answer = answers[(r.Ritual*3)%len(answers)] }
func reveal(r *Ritual)  { r.Omen = omens[(r.Ritual*5)%len(omens)] }

// complete reports whether a ritual reached the Scribe with every field its
// stages add: a stage skipped or a payload garbled on the way is an error.
func complete(r Ritual) bool {
	return r.Ritual >= 0 && r.Spirit == spirits[(r.Ritual*7)%len(spirits)] &&
		r.Answer == answers[(r.Ritual*3)%len(answers)] &&
		r.Omen == omens[(r.Ritual*5)%len(omens)] &&
		r.Seeker == seekers[r.Ritual%len(seekers)] && r.Question == questions[r.Ritual%len(questions)]
}

// ioWait stands for an organ's I/O call (Config.HandlerDelay): it waits d,
// or until ctx ends, as a call to a database would. Where the platform
// allows, the wait ends the way an I/O call's does, by a file descriptor
// becoming ready (ioclock_linux.go); elsewhere it is a Go timer
// (timerWait).
func ioWait(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	return platformWait(ctx, d)
}

// timerWait waits d on a Go timer, or until ctx ends. Its timers are
// reused, so that the wait itself costs both systems next to nothing: at
// 256 organs in flight a new timer per call was a tenth of the worker's
// CPU.
func timerWait(ctx context.Context, d time.Duration) error {
	t, _ := waitTimers.Get().(*time.Timer)
	if t == nil {
		t = time.NewTimer(d)
	} else {
		t.Reset(d) // stopped when it went back: no stale tick (Go 1.23 timers)
	}
	defer func() {
		t.Stop()
		waitTimers.Put(t)
	}()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

var waitTimers sync.Pool // of *time.Timer, stopped
