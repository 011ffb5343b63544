// Command seance holds the séance of package organs as a worker process:
// package github.com/necrostack/necrostack/worker documents its modes, its
// generic flags and NECROSTACK_* variables (here -stream necrostack:seance,
// -log-level warn) and its exit status; -h lists the séance's own flags.
// Each ritual prints under a header naming its number and séance, so that
// the output of many workers can be merged and audited. A run ends with a
// summary, and fails unless each of its rituals printed exactly one omen.
package main

import (
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/necrostack/necrostack/apps/seance/organs"
	"github.com/necrostack/necrostack/core"
	"github.com/necrostack/necrostack/worker"
)

const (
	maxRituals = 100_000 // the bound of -rituals: every summons is in memory at once
	keyEvery   = "every" // the log key of -fail-every
)

var defaultQuestions = []string{
	"Will the harvest be kind this year?",
	"Who walks the east corridor at midnight?",
	"Should I open the letter from my brother?",
}

var (
	seeding  = []worker.Mode{worker.ModeRun, worker.ModeEmit}
	handling = []worker.Mode{worker.ModeRun, worker.ModeWorker}
	// flagModes are the modes each of the séance's flags has a use in.
	flagModes = map[string][]worker.Mode{"question": seeding, "rituals": seeding, "seance": seeding, "seeker": seeding,
		"fail-every": handling, "fail-organ": handling}
)

func main() { worker.Main(app()) }

// seance is one process's séance: its flags, then its Scribe.
type seance struct {
	questions             []string
	seeker, id, failOrgan string
	rituals, failEvery    int
	scribe                *organs.Scribe
}

func app() worker.App {
	s := &seance{}
	return worker.App{
		Name: "seance", Summary: "Holds a séance and prints it, or shares one between workers on Redis.",
		Stream: "necrostack:seance", LogLevel: slog.LevelWarn,
		StepsPerSeed: 4, // SUMMON_RITUAL, SPIRIT_APPEARED, ANSWER_GENERATED, OMEN_REVEALED
		Flags:        s.flags, FlagModes: flagModes, Check: s.check, Seeds: s.seeds, Organs: s.chain, Begin: s.begin, End: s.end,
	}
}

func (s *seance) flags(fs *flag.FlagSet) {
	fs.Func("question", "a `question` for the spirits; repeat for more (default: "+strings.Join(defaultQuestions, " | ")+")",
		func(q string) error { s.questions = append(s.questions, q); return nil })
	fs.StringVar(&s.seeker, "seeker", "Mina", "the `name` of the one who asks")
	fs.IntVar(&s.rituals, "rituals", 0, "`number` of rituals, cycling through the questions (default: one per question)")
	fs.StringVar(&s.id, "seance", "", "`id` of the séance, printed in its rituals' headers: letters, digits, - and _ (default: random on redis, none on memory)")
	fs.StringVar(&s.failOrgan, "fail-organ", "", "fault injection, for tests and demos: the `organ` ("+strings.Join(organs.Names(), ", ")+
		") that fails, with a retryable error, on every ritual whose number is a multiple of -fail-every")
	fs.IntVar(&s.failEvery, "fail-every", 0, "with -fail-organ: the organ fails on rituals `N`, 2N, 3N...")
}

// check refuses bad values and settles the séance id: on Redis, one to tell séances apart by.
func (s *seance) check(p *worker.Process) error {
	if len(s.questions) == 0 {
		s.questions = defaultQuestions
	}
	if !p.Given("rituals") {
		s.rituals = len(s.questions)
	}
	switch {
	case s.rituals < 1:
		return fmt.Errorf("-rituals %d: must be at least 1", s.rituals)
	case s.rituals > maxRituals:
		return fmt.Errorf("-rituals %d: must be at most %d", s.rituals, maxRituals)
	case p.Given("fail-organ") && !slices.Contains(organs.Names(), s.failOrgan):
		return fmt.Errorf("-fail-organ %q: must be one of %s", s.failOrgan, strings.Join(organs.Names(), ", "))
	case p.Given("fail-organ") != p.Given("fail-every"):
		return errors.New("-fail-organ and -fail-every go together: the organ that fails, and the rituals it fails on")
	case p.Given("fail-every") && s.failEvery < 1:
		return fmt.Errorf("-fail-every %d: must be at least 1", s.failEvery)
	case p.Backend == worker.BackendRedis && p.Given("seance") && s.id == "":
		return errors.New(`-seance "": empty: a séance on redis needs an id`)
	case p.Backend == worker.BackendRedis && !p.Given("seance") && (p.Mode == worker.ModeRun || p.Mode == worker.ModeEmit):
		s.id = strings.ToLower(rand.Text()[:8]) // short, to read in a header; 40 bits tell séances apart
	}
	// Refused now rather than dead-lettered later; the organs' field names are the flags'.
	for _, q := range s.questions {
		var fe *organs.FieldError
		if errors.As(organs.Ritual{Number: 1, Seeker: s.seeker, Question: q, Seance: s.id}.Validate(), &fe) {
			value := map[string]string{"seeker": s.seeker, "question": q, "seance": s.id}[fe.Field]
			return fmt.Errorf("-%s %q: %s", fe.Field, value, fe.Reason)
		}
	}
	return nil
}

func (s *seance) seeds(*worker.Process) ([]core.Event, error) {
	out := make([]core.Event, s.rituals)
	var err error
	for i := 0; i < len(out) && err == nil; i++ {
		out[i], err = organs.SummonRitual.New(organs.Ritual{Number: i + 1, Seeker: s.seeker, Question: s.questions[i%len(s.questions)], Seance: s.id})
	}
	return out, err
}

func (s *seance) chain(p *worker.Process) ([]core.Organ, error) {
	all, scribe := organs.All(p.Stdout)
	s.scribe = scribe
	if i := slices.IndexFunc(all, func(o core.Organ) bool { return core.OrganName(o) == s.failOrgan }); i >= 0 {
		f := organs.FailEvery(all[i], s.failEvery)
		// A warning, so that nobody mistakes it for a real fault.
		p.Log.Warn("fault injected: "+f.String(), slog.String(core.KeyOrgan, s.failOrgan), slog.Int(keyEvery, s.failEvery))
		all[i] = f
	}
	return all, nil
}

func (s *seance) begin(p *worker.Process) {
	switch {
	case p.Mode == worker.ModeWorker:
		fmt.Fprintf(p.Stdout, "The medium %s listens on %s (group %s).\n\n", p.Consumer, p.Stream, p.Group)
	case s.id == "":
		fmt.Fprintf(p.Stdout, "The candles are lit. %s takes a seat at the table.\n\n", s.seeker)
	default:
		fmt.Fprintf(p.Stdout, "The candles are lit (séance %s). %s takes a seat at the table.\n\n", s.id, s.seeker)
	}
}

// end prints what a mode did. A run's summary counts apart the omens of
// other séances and every dead letter added while it ran; only its own
// rituals, each to print one omen and none to be dead-lettered, decide it.
func (s *seance) end(p *worker.Process, r worker.Result) error {
	if r.Mode == worker.ModeEmit && (r.Err == nil || r.Seeded > 0) { // the count is true whatever failed
		fmt.Fprintf(p.Stdout, "enqueued %s (séance %s) to %s\n", plural(r.Seeded, "ritual"), s.id, r.Stream)
	}
	if r.Mode == worker.ModeWorker {
		fmt.Fprintf(p.Stdout, "The medium %s rests after %s.\n", p.Consumer, plural(total(s.scribe.Omens()), "omen"))
	}
	if r.Mode != worker.ModeRun {
		return nil
	}
	ours := total(s.scribe.OmensOf(s.id))
	summary := plural(s.rituals, "ritual") + ", " + plural(ours, "omen")
	if others := total(s.scribe.Omens()) - ours; others > 0 {
		summary += ", " + plural(others, "omen") + " of other séances"
	}
	if len(r.DeadLetters) > 0 {
		summary += ", " + plural(len(r.DeadLetters), "dead letter")
	}
	fmt.Fprintln(p.Stdout, summary)
	mine := 0
	for _, dl := range r.DeadLetters {
		line, own := organs.DescribeDeadLetter(dl, s.id)
		fmt.Fprintf(p.Stderr, "%s: dead letter: %s\n", p.App.Name, line)
		if own {
			mine++
		}
	}
	err := s.scribe.Audit(s.id, s.rituals)
	switch {
	case err != nil && mine > 0:
		return fmt.Errorf("incomplete: %v; %s of this séance", err, plural(mine, "dead letter"))
	case err != nil:
		return fmt.Errorf("incomplete: %w", err)
	case mine > 0:
		return fmt.Errorf("%s of this séance", plural(mine, "dead letter"))
	}
	return nil
}

func total(counts map[int]int) (n int) {
	for _, c := range counts {
		n += c
	}
	return n
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
