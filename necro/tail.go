package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	nsredis "github.com/necrostack/necrostack/backends/redis"
)

// tailJSON is an entry as `tail -o json` prints it, one per line.
type tailJSON struct {
	EntryID string          `json:"entry_id"`
	Event   json.RawMessage `json:"event,omitempty"`
	Problem string          `json:"problem,omitempty"` // not an event: why
	Raw     string          `json:"raw,omitempty"`
}

func tailCommand(o *options) *cobra.Command {
	var types []string
	var chainID, from string
	var count int
	var during time.Duration
	cmd := &cobra.Command{
		Use:   "tail STREAM",
		Short: "Follow the entries added to a stream, as they come",
		Long: "tail prints each entry added to STREAM from now on (or after --from), until interrupted, or\n" +
			"after --count entries or --for a while: a line per event for people, or with -o json a JSON\n" +
			"object per line. --type and --chain keep the events of those types or of that chain.",
		Example: "  necro tail necrostack:seance\n" +
			"  necro tail necrostack:seance --type OMEN_REVEALED -o json | jq .event.payload\n" +
			"  necro tail necrostack:seance --chain 40379aeb-22d4-4ce5-b9ba-9f66d1268504 --from 0",
		Args: cobra.ExactArgs(1),
		PreRunE: func(cmd *cobra.Command, args []string) error {
			if count < 0 || during < 0 {
				return usageError{errors.New("--count and --for must not be negative")}
			}
			return nil
		},
		RunE: o.inspected(func(cmd *cobra.Command, in *nsredis.Inspector, args []string) error {
			last, err := in.LastID(cmd.Context(), args[0]) // and the stream is there
			if err != nil {
				return err
			}
			after := from
			if from == "$" { // now, once: what comes between two reads is not missed
				after = last
			}
			ctx := cmd.Context() // interrupted: the end
			var deadline time.Time
			if during > 0 {
				deadline = time.Now().Add(during)
			}
			wanted := map[string]bool{}
			for _, t := range types {
				wanted[t] = true
			}
			printed := 0
			for ctx.Err() == nil && (count == 0 || printed < count) {
				block := time.Second
				if !deadline.IsZero() {
					// --for ends the wait, which Redis bounds: no read is cut.
					if block = min(block, time.Until(deadline)); block < time.Millisecond {
						break
					}
				}
				entries, next, err := in.Follow(ctx, args[0], after, block)
				if err != nil {
					if ctx.Err() != nil {
						break // interrupted
					}
					return err
				}
				after = next
				for _, se := range entries {
					e := se.Event
					if e.IsZero() && (len(wanted) > 0 || chainID != "") {
						continue
					}
					if !e.IsZero() && (len(wanted) > 0 && !wanted[e.Type()] || chainID != "" && e.CorrelationID() != chainID) {
						continue
					}
					if o.output == "json" {
						j := tailJSON{EntryID: se.EntryID, Problem: se.Problem, Raw: se.Raw}
						if !e.IsZero() {
							j.Event, _ = e.MarshalJSON()
						}
						line, _ := json.Marshal(j)
						fmt.Fprintf(o.stdout, "%s\n", line)
					} else if e.IsZero() {
						fmt.Fprintf(o.stdout, "%s  (not an event: %s)  %s\n", se.EntryID, se.Problem, clip(se.Raw, 80))
					} else {
						fmt.Fprintf(o.stdout, "%s  %s  %s  chain %s  %s\n", se.EntryID, e.Timestamp().UTC().Format("15:04:05.000"), e.Type(), e.CorrelationID()[:8], clip(string(e.Payload()), 100))
					}
					if printed++; count > 0 && printed >= count {
						break
					}
				}
			}
			return nil
		}),
	}
	cmd.Flags().StringSliceVar(&types, "type", nil, "only events of these types (repeat, or comma-separated)")
	cmd.Flags().StringVar(&chainID, "chain", "", "only the events of this chain (its seed's id)")
	cmd.Flags().StringVar(&from, "from", "$", "the entry id to follow after: $ for what comes from now on, 0 for the whole stream")
	cmd.Flags().IntVar(&count, "count", 0, "stop after this many entries (0: never)")
	cmd.Flags().DurationVar(&during, "for", 0, "stop after this long (0: never)")
	return cmd
}
