package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"time"

	"github.com/necrostack/necrostack/apps/seance/organs"
	"github.com/necrostack/necrostack/backends/memory"
	"github.com/necrostack/necrostack/core"
)

// queue is the backend a run holds its séance on, with what the run needs
// of it besides core.Backend. The backend is a field, not embedded: the
// Spine finds its optional capabilities by type assertion.
type queue struct {
	backend core.Backend
	// idle is how long an empty pull must wait, with nothing in flight,
	// before the séance counts as finished.
	idle time.Duration
	// backlog is how many events were waiting before the run enqueued its
	// rituals. Each may start a chain of its own.
	backlog int
	// deadLetters lists the dead letters added since the queue was opened.
	deadLetters func(context.Context) ([]core.DeadLetter, error)
	close       func()
}

// openQueue returns the queue of a run. It is the one place that chooses
// the backend.
func openQueue(ctx context.Context, cfg config, log *slog.Logger) (*queue, error) {
	if cfg.backend == backendRedis {
		return openRedisQueue(ctx, cfg.redis, log)
	}
	b := memory.New(memory.Config{})
	return &queue{
		backend: b,
		// Only this process feeds the in-memory queue, so once it has
		// stayed empty briefly with nothing in flight, the chain is done.
		idle:        20 * time.Millisecond,
		deadLetters: func(context.Context) ([]core.DeadLetter, error) { return b.DeadLetters(), nil },
		close:       func() { _ = b.Close() },
	}, nil
}

// hold runs a séance (-mode run): it enqueues the rituals, handles events
// until the chain is complete and prints the séance.
func hold(ctx context.Context, cfg config, log *slog.Logger, stdout, stderr io.Writer) int {
	q, err := openQueue(ctx, cfg, log)
	if err != nil {
		fmt.Fprintf(stderr, "seance: %v\n", err)
		return exitFail
	}
	defer q.close()
	all, scribe := cfg.organs(stdout, log)
	spine, err := core.NewSpine(q.backend, all, core.Config{
		Concurrency: cfg.concurrency,
		MaxSteps:    (q.backlog + cfg.rituals) * stepsPerRitual,
		PullTimeout: q.idle,
		Logger:      log,
	})
	if err != nil {
		fmt.Fprintf(stderr, "seance: %v\n", err)
		return exitFail
	}
	for n := 1; n <= cfg.rituals; n++ {
		e, err := cfg.summons(n)
		if err == nil {
			err = spine.Enqueue(ctx, e)
		}
		if err != nil {
			fmt.Fprintf(stderr, "seance: summon ritual %d: %v\n", n, err)
			return exitFail
		}
	}
	log.Info("séance begins", slog.String("seance", cfg.seance), slog.Int("rituals", cfg.rituals),
		slog.Int("concurrency", cfg.concurrency), slog.Int("backlog", q.backlog))

	if cfg.seance == "" {
		fmt.Fprintf(stdout, "The candles are lit. %s takes a seat at the table.\n\n", cfg.seeker)
	} else {
		fmt.Fprintf(stdout, "The candles are lit (séance %s). %s takes a seat at the table.\n\n", cfg.seance, cfg.seeker)
	}
	runErr := spine.RunUntilIdle(ctx)
	ours := scribe.OmensOf(cfg.seance)
	others := total(scribe.Omens()) - total(ours)
	// Counted even after an interrupt, for the summary.
	listCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	dead, deadErr := q.deadLetters(listCtx)
	cancel()
	fmt.Fprintln(stdout, summary(cfg.rituals, total(ours), others, len(dead)))
	stats := spine.Stats()
	log.Info("séance ends", slog.Int64("pulled", stats.Pulled), slog.Int64("emitted", stats.Emitted),
		slog.Int64("failed", stats.Failed), slog.Int64("dead_lettered", stats.DeadLettered))

	if runErr != nil {
		fmt.Fprintf(stderr, "seance: %v\n", runErr)
		return exitFail
	}
	if ctx.Err() != nil {
		fmt.Fprintf(stderr, "seance: interrupted: %d of %d rituals revealed their omen\n", len(ours), cfg.rituals)
		return exitFail
	}
	code := exitOK
	mine := 0
	for _, dl := range dead {
		if _, own := describeDeadLetter(dl, cfg.seance); own {
			mine++
		}
	}
	if err := audit(cfg.rituals, ours); err != nil {
		hint := ""
		if cfg.backend == backendRedis && mine == 0 {
			hint = fmt.Sprintf(" (did workers of group %q take them? With workers, use -mode emit; or run with another -group)", cfg.redis.group)
		}
		fmt.Fprintf(stderr, "seance: incomplete: %v%s\n", err, hint)
		code = exitFail
	}
	for _, dl := range dead {
		text, _ := describeDeadLetter(dl, cfg.seance)
		fmt.Fprintf(stderr, "seance: dead letter: %s\n", text)
	}
	if mine > 0 {
		fmt.Fprintf(stderr, "seance: %s of this séance\n", plural(mine, "dead letter"))
		code = exitFail
	}
	if deadErr != nil {
		fmt.Fprintf(stderr, "seance: %v\n", deadErr)
		code = exitFail
	}
	return code
}

// describeDeadLetter returns a line about dl, and whether it belongs to the
// séance with the given id.
func describeDeadLetter(dl core.DeadLetter, seance string) (string, bool) {
	what := "an entry that is not an event"
	if !dl.Event.IsZero() {
		what = dl.Event.Type()
	}
	if dl.Organ != "" {
		what += " organ=" + dl.Organ
	}
	text := fmt.Sprintf("%s reason=%s: %s", what, dl.Reason, dl.Error)
	r, ok := organs.RitualOf(dl.Event)
	switch {
	case !ok:
		return text, false
	case r.Seance == seance:
		return fmt.Sprintf("%s (ritual %d)", text, r.Number), true
	case r.Seance == "":
		return fmt.Sprintf("%s (ritual %d of a séance without id)", text, r.Number), false
	}
	return fmt.Sprintf("%s (ritual %d of séance %s)", text, r.Number, r.Seance), false
}

// audit reports whether rituals 1 to n each printed exactly one omen.
func audit(n int, omens map[int]int) error {
	var missing, repeated []int
	for i := 1; i <= n; i++ {
		switch c := omens[i]; {
		case c == 0:
			missing = append(missing, i)
		case c > 1:
			repeated = append(repeated, i)
		}
	}
	var stray []int
	for i := range omens {
		if i < 1 || i > n {
			stray = append(stray, i)
		}
	}
	slices.Sort(stray)
	var errs []error
	if len(missing) > 0 {
		errs = append(errs, fmt.Errorf("no omen for rituals %v", missing))
	}
	if len(repeated) > 0 {
		errs = append(errs, fmt.Errorf("more than one omen for rituals %v", repeated))
	}
	if len(stray) > 0 {
		errs = append(errs, fmt.Errorf("omens for unknown rituals %v", stray))
	}
	return errors.Join(errs...)
}

// summary is the last line of a séance: its rituals and omens, then what
// other séances left in the stream, and the dead letters.
func summary(rituals, omens, others, dead int) string {
	s := plural(rituals, "ritual") + ", " + plural(omens, "omen")
	if others > 0 {
		s += ", " + plural(others, "omen") + " of other séances"
	}
	if dead > 0 {
		s += ", " + plural(dead, "dead letter")
	}
	return s
}

func total(counts map[int]int) int {
	n := 0
	for _, c := range counts {
		n += c
	}
	return n
}
