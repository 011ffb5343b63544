package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	nsredis "github.com/necrostack/necrostack/backends/redis"
)

// pendingJSON is an entry as `pending -o json` prints it.
type pendingJSON struct {
	ID         string  `json:"id"`
	Consumer   string  `json:"consumer"`
	IdleMS     float64 `json:"idle_ms"`
	Deliveries int64   `json:"deliveries"`
}

func pendingCommand(o *options) *cobra.Command {
	var group, consumer string
	var limit int
	cmd := &cobra.Command{
		Use:   "pending STREAM",
		Short: "Entries delivered to a group and not yet acknowledged, by consumer",
		Long: "pending lists the entries of STREAM that the group delivered and that were not acknowledged:\n" +
			"each with the consumer that holds it, how long since it was last delivered, and how many times\n" +
			"it was. An entry idle longer than the workers' -claim-min-idle is one a dead worker left; a\n" +
			"live worker reclaims it.",
		Example: "  necro pending necrostack:seance\n  necro pending necrostack:seance --consumer worker-1 --limit 20 -o json",
		Args:    cobra.ExactArgs(1),
		PreRunE: func(cmd *cobra.Command, args []string) error {
			if limit < 0 {
				return usageError{fmt.Errorf("--limit %d: must be 0 (all) or more", limit)}
			}
			return nil
		},
		RunE: o.inspected(func(cmd *cobra.Command, in *nsredis.Inspector, args []string) error {
			entries, err := in.Pending(cmd.Context(), args[0], group, consumer, limit)
			if err != nil {
				return err
			}
			out := make([]pendingJSON, len(entries))
			for i, e := range entries {
				out[i] = pendingJSON{ID: e.ID, Consumer: e.Consumer, IdleMS: ms(e.Idle), Deliveries: e.Deliveries}
			}
			if o.output == "json" {
				return o.printJSON(out)
			}
			w := tabwriter.NewWriter(o.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "ENTRY\tCONSUMER\tIDLE\tDELIVERIES")
			for _, e := range out {
				fmt.Fprintf(w, "%s\t%s\t%s\t%d\n", e.ID, e.Consumer, age(e.IdleMS, true), e.Deliveries)
			}
			if err := w.Flush(); err != nil {
				return err
			}
			_, err = fmt.Fprintf(o.stdout, "%d pending in group %s of %s\n", len(out), group, args[0])
			return err
		}),
	}
	cmd.Flags().StringVar(&group, "group", nsredis.DefaultGroup, "the consumer group")
	cmd.Flags().StringVar(&consumer, "consumer", "", "only the entries this consumer holds")
	cmd.Flags().IntVar(&limit, "limit", 0, "at most this many entries, oldest first (0: all)")
	return cmd
}
