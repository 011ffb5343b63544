package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	nsredis "github.com/necrostack/necrostack/backends/redis"
	"github.com/necrostack/necrostack/core"
)

// deadLetterJSON is a dead letter as `dlq -o json` prints it.
type deadLetterJSON struct {
	ID        string          `json:"id"`
	Time      string          `json:"time"`
	Organ     string          `json:"organ,omitempty"`
	Reason    string          `json:"reason"`
	Attempts  int             `json:"attempts"`
	Error     string          `json:"error"`
	EntryID   string          `json:"entry_id,omitempty"`
	EventType string          `json:"event_type,omitempty"` // the event's type, when it is one
	Event     json.RawMessage `json:"event,omitempty"`      // the event, when it is one
	Raw       string          `json:"raw,omitempty"`        // else what the entry held
}

func dlJSON(dl nsredis.DeadLetter) deadLetterJSON {
	out := deadLetterJSON{ID: dl.ID, Organ: dl.Organ, Reason: dl.Reason, Attempts: dl.Attempts, Error: dl.Error, EntryID: dl.EntryID, Raw: dl.Raw}
	if !dl.Time.IsZero() {
		out.Time = dl.Time.UTC().Format(time.RFC3339Nano)
	}
	if !dl.Event.IsZero() {
		out.EventType = dl.Event.Type()
		out.Event, _ = dl.Event.MarshalJSON()
	}
	return out
}

// selection picks dead letters: by id, or by organ, reason and age.
type selection struct {
	all       bool
	organ     string
	reason    string
	olderThan time.Duration
}

func (s *selection) flags(cmd *cobra.Command, verb string) {
	cmd.Flags().BoolVar(&s.all, "all", false, verb+" every dead letter")
	cmd.Flags().StringVar(&s.organ, "organ", "", verb+" the dead letters of this organ")
	cmd.Flags().StringVar(&s.reason, "reason", "", verb+" the dead letters of this reason (handler_failed, unroutable, malformed_entry, …)")
	cmd.Flags().DurationVar(&s.olderThan, "older-than", 0, verb+" the dead letters older than this (e.g. 1h)")
}

func (s *selection) filtering() bool { return s.organ != "" || s.reason != "" || s.olderThan > 0 }

func (s *selection) match(dl nsredis.DeadLetter, now time.Time) bool {
	return (s.organ == "" || dl.Organ == s.organ) && (s.reason == "" || dl.Reason == s.reason) &&
		(s.olderThan <= 0 || !dl.Time.IsZero() && now.Sub(dl.Time) > s.olderThan)
}

// pick returns the dead letters of stream that ids name, or that s
// selects; one of the two, not both.
func (s *selection) pick(cmd *cobra.Command, in *nsredis.Inspector, stream string, ids []string) ([]nsredis.DeadLetter, error) {
	switch {
	case len(ids) > 0 && (s.all || s.filtering()):
		return nil, usageError{errors.New("name dead letters by id, or select them with --all, --organ, --reason or --older-than: not both")}
	case len(ids) == 0 && !s.all && !s.filtering():
		return nil, usageError{errors.New("name dead letters by id, or select them with --all, --organ, --reason or --older-than")}
	case s.all && s.filtering():
		return nil, usageError{errors.New("--all selects every dead letter: drop it, or the filters")}
	}
	if len(ids) > 0 {
		out := make([]nsredis.DeadLetter, 0, len(ids))
		for _, id := range ids {
			dl, err := in.DeadLetter(cmd.Context(), stream, id)
			if err != nil {
				return nil, err
			}
			out = append(out, dl)
		}
		return out, nil
	}
	dls, err := in.DeadLetters(cmd.Context(), stream, "", 0)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	out := dls[:0]
	for _, dl := range dls {
		if s.match(dl, now) {
			out = append(out, dl)
		}
	}
	return out, nil
}

func dlqCommand(o *options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dlq",
		Short: "Dead letters: list, show, redrive, purge",
		Long: "dlq works on a stream's dead letters (STREAM:dlq): the events an organ kept failing on,\n" +
			"that no organ listens to, or entries that were not events at all (malformed_entry).",
		Example: "  necro dlq ls necrostack:seance --organ Oracle\n  necro dlq redrive necrostack:seance --reason handler_failed --dry-run",
	}
	cmd.AddCommand(dlqLs(o), dlqShow(o), dlqRedrive(o), dlqPurge(o))
	return cmd
}

func dlqLs(o *options) *cobra.Command {
	var sel selection
	var limit int
	cmd := &cobra.Command{
		Use:     "ls STREAM",
		Short:   "List the dead letters, oldest first",
		Example: "  necro dlq ls necrostack:seance\n  necro dlq ls necrostack:seance --reason malformed_entry -o json",
		Args:    cobra.ExactArgs(1),
		RunE: o.inspected(func(cmd *cobra.Command, in *nsredis.Inspector, args []string) error {
			dls, err := in.DeadLetters(cmd.Context(), args[0], "", 0)
			if err != nil {
				return err
			}
			now := time.Now()
			var picked []nsredis.DeadLetter
			out := []deadLetterJSON{}
			for _, dl := range dls {
				if sel.match(dl, now) && (limit == 0 || len(out) < limit) {
					picked = append(picked, dl)
					out = append(out, dlJSON(dl))
				}
			}
			if o.output == "json" {
				return o.printJSON(out)
			}
			w := tabwriter.NewWriter(o.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "ID\tAGE\tORGAN\tREASON\tATTEMPTS\tEVENT\tERROR")
			for _, dl := range picked {
				what := "(not an event)"
				if !dl.Event.IsZero() {
					what = dl.Event.Type()
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", dl.ID, ageOf(dl.Time, now), orDash(dl.Organ), dl.Reason, dl.Attempts, what, clip(dl.Error, 60))
			}
			if err := w.Flush(); err != nil {
				return err
			}
			_, err = fmt.Fprintf(o.stdout, "%d of %d dead letters in %s:dlq\n", len(out), len(dls), args[0])
			return err
		}),
	}
	sel.flags(cmd, "list")
	cmd.Flags().Lookup("all").Hidden = true // ls lists every one anyway
	cmd.Flags().IntVar(&limit, "limit", 0, "at most this many (0: all)")
	return cmd
}

func dlqShow(o *options) *cobra.Command {
	return &cobra.Command{
		Use:     "show STREAM ID",
		Short:   "One dead letter: why, when, and the event (or the raw entry that was not one)",
		Example: "  necro dlq show necrostack:seance 1764547200000-0",
		Args:    cobra.ExactArgs(2),
		RunE: o.inspected(func(cmd *cobra.Command, in *nsredis.Inspector, args []string) error {
			dl, err := in.DeadLetter(cmd.Context(), args[0], args[1])
			if err != nil {
				return err
			}
			j := dlJSON(dl)
			if o.output == "json" {
				return o.printJSON(j)
			}
			w := tabwriter.NewWriter(o.stdout, 0, 4, 2, ' ', 0)
			for _, kv := range [][2]string{{"id", j.ID}, {"time", j.Time}, {"organ", orDash(j.Organ)}, {"reason", j.Reason},
				{"attempts", fmt.Sprint(j.Attempts)}, {"error", j.Error}, {"entry", orDash(j.EntryID)}} {
				fmt.Fprintf(w, "%s\t%s\n", kv[0], kv[1])
			}
			if err := w.Flush(); err != nil {
				return err
			}
			if j.Event != nil {
				var pretty strings.Builder
				enc := json.NewEncoder(&pretty)
				enc.SetIndent("", "  ")
				var v any
				_ = json.Unmarshal(j.Event, &v)
				_ = enc.Encode(v)
				_, err = fmt.Fprintf(o.stdout, "event\n%s", pretty.String())
				return err
			}
			_, err = fmt.Fprintf(o.stdout, "raw entry (not an event, so it cannot be redriven as it is)\n%s\n"+
				"mend it into an event and `necro dlq redrive %s %s --edit FILE`, or `necro dlq purge %s %s`\n",
				j.Raw, args[0], j.ID, args[0], j.ID)
			return err
		}),
	}
}

// redriveJSON is what `dlq redrive -o json` prints.
type redriveJSON struct {
	DryRun        bool     `json:"dry_run"`
	Redriven      []string `json:"redriven"`
	NotRedrivable []string `json:"not_redrivable"`
}

func dlqRedrive(o *options) *cobra.Command {
	var sel selection
	var dryRun bool
	var edit string
	cmd := &cobra.Command{
		Use:   "redrive STREAM [ID...]",
		Short: "Hand dead letters back to the stream, to be handled again",
		Long: "redrive moves the dead letters named, or selected, back to STREAM as new entries holding the\n" +
			"same events (same ids), each atomically. A dead letter that holds no valid event (a malformed\n" +
			"entry) is left in place and reported; mend it and redrive it with --edit FILE (the whole event,\n" +
			"as JSON; - for standard input), which is refused unless the edit is a valid event.",
		Example: "  necro dlq redrive necrostack:seance 1764547200000-0\n" +
			"  necro dlq redrive necrostack:seance --organ Oracle --dry-run\n" +
			"  necro dlq redrive necrostack:seance 1764547200000-3 --edit mended.json",
		Args: cobra.MinimumNArgs(1),
		PreRunE: func(cmd *cobra.Command, args []string) error {
			if edit != "" && (len(args) != 2 || sel.all || sel.filtering()) {
				return usageError{errors.New("--edit redrives one dead letter: name it by id")}
			}
			return nil
		},
		RunE: o.inspected(func(cmd *cobra.Command, in *nsredis.Inspector, args []string) error {
			stream, ids := args[0], args[1:]
			if edit != "" {
				return o.redriveEdited(cmd, in, stream, ids[0], edit, dryRun)
			}
			dls, err := sel.pick(cmd, in, stream, ids)
			if err != nil {
				return err
			}
			res := redriveJSON{DryRun: dryRun, Redriven: []string{}, NotRedrivable: []string{}}
			var good []string
			for _, dl := range dls {
				if dl.Event.IsZero() {
					res.NotRedrivable = append(res.NotRedrivable, dl.ID)
				} else {
					good = append(good, dl.ID)
				}
			}
			if dryRun {
				res.Redriven = append(res.Redriven, good...)
			} else if len(good) > 0 {
				moved, err := in.Redrive(cmd.Context(), stream, good...)
				if err != nil {
					return fmt.Errorf("redrove %d of %d: %w", moved, len(good), err)
				}
				if moved < len(good) {
					return notFound{fmt.Errorf("redrove %d of the %d selected: the others were redriven or purged meanwhile", moved, len(good))}
				}
				res.Redriven = append(res.Redriven, good...)
			}
			if o.output == "json" {
				if err := o.printJSON(res); err != nil {
					return err
				}
			} else {
				verb := "redrove"
				if dryRun {
					verb = "would redrive"
				}
				fmt.Fprintf(o.stdout, "%s %d dead letters from %s:dlq to %s\n", verb, len(res.Redriven), stream, stream)
			}
			if len(res.NotRedrivable) > 0 {
				return notFound{fmt.Errorf("%d dead letters hold no valid event and stay (%s): `necro dlq show %s ID`, then --edit or purge",
					len(res.NotRedrivable), strings.Join(res.NotRedrivable, ", "), stream)}
			}
			return nil
		}),
	}
	sel.flags(cmd, "redrive")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "say what would be redriven, and change nothing")
	cmd.Flags().StringVar(&edit, "edit", "", "redrive the one dead letter named with this event instead (a JSON file, - for standard input)")
	return cmd
}

// redriveEdited redrives the dead letter id of stream with the event in
// file, once it decodes as an event.
func (o *options) redriveEdited(cmd *cobra.Command, in *nsredis.Inspector, stream, id, file string, dryRun bool) error {
	var data []byte
	var err error
	if file == "-" {
		data, err = io.ReadAll(o.stdin)
	} else {
		data, err = os.ReadFile(file)
	}
	if err != nil {
		return usageError{fmt.Errorf("--edit: %w", err)}
	}
	data = []byte(strings.TrimSpace(string(data)))
	if _, err := core.DecodeEvent(data); err != nil {
		return usageError{fmt.Errorf("the edited event of %s: %w", id, err)}
	}
	if dryRun {
		if _, err := in.DeadLetter(cmd.Context(), stream, id); err != nil {
			return err
		}
		_, err = fmt.Fprintf(o.stdout, "would redrive dead letter %s of %s:dlq with the edited event\n", id, stream)
		return err
	}
	if err := in.RedriveEdited(cmd.Context(), stream, id, data); err != nil {
		return err
	}
	_, err = fmt.Fprintf(o.stdout, "redrove dead letter %s from %s:dlq to %s, edited\n", id, stream, stream)
	return err
}

func dlqPurge(o *options) *cobra.Command {
	var sel selection
	var dryRun, yes bool
	cmd := &cobra.Command{
		Use:   "purge STREAM [ID...]",
		Short: "Delete dead letters for good",
		Long: "purge deletes the dead letters named, or selected, from STREAM:dlq. It asks first, on the\n" +
			"terminal, unless --yes.",
		Example: "  necro dlq purge necrostack:seance --reason malformed_entry --dry-run\n" +
			"  necro dlq purge necrostack:seance 1764547200000-3 --yes",
		Args: cobra.MinimumNArgs(1),
		RunE: o.inspected(func(cmd *cobra.Command, in *nsredis.Inspector, args []string) error {
			stream := args[0]
			dls, err := sel.pick(cmd, in, stream, args[1:])
			if err != nil {
				return err
			}
			ids := make([]string, len(dls))
			for i, dl := range dls {
				ids[i] = dl.ID
			}
			if dryRun {
				return o.report("would purge", ids, stream)
			}
			if len(ids) > 0 && !yes {
				fmt.Fprintf(o.stderr, "purge %d dead letters of %s:dlq for good? [y/N] ", len(ids), stream)
				answer, _ := bufio.NewReader(o.stdin).ReadString('\n')
				if a := strings.ToLower(strings.TrimSpace(answer)); a != "y" && a != "yes" {
					return notFound{errors.New("purge cancelled: nothing deleted")}
				}
			}
			n, err := in.Purge(cmd.Context(), stream, ids...)
			if err != nil {
				return err
			}
			if n < len(ids) { // some were redriven or purged meanwhile: say how many went
				_, err = fmt.Fprintf(o.stdout, "purged %d dead letters from %s:dlq (%d of those selected were gone already)\n", n, stream, len(ids)-n)
				return err
			}
			return o.report("purged", ids, stream)
		}),
	}
	sel.flags(cmd, "purge")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "say what would be purged, and change nothing")
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask")
	return cmd
}

// report prints what purge did (or would do) to ids.
func (o *options) report(verb string, ids []string, stream string) error {
	if o.output == "json" {
		return o.printJSON(map[string]any{"dry_run": verb == "would purge", "purged": append([]string{}, ids...)})
	}
	_, err := fmt.Fprintf(o.stdout, "%s %d dead letters from %s:dlq\n", verb, len(ids), stream)
	return err
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// ageOf prints how long ago t was, for people.
func ageOf(t, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return age(float64(now.Sub(t).Milliseconds()), true)
}
