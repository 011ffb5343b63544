package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	nsredis "github.com/necrostack/necrostack/backends/redis"
)

// streamJSON is a stream as `status -o json` prints it.
type streamJSON struct {
	Stream      string      `json:"stream"`
	Length      int64       `json:"length"`
	DeadLetters int64       `json:"dead_letters"`
	Groups      []groupJSON `json:"groups"`
}

type groupJSON struct {
	Name            string         `json:"name"`
	Lag             int64          `json:"lag"`
	Pending         int64          `json:"pending"`
	OldestPendingMS float64        `json:"oldest_pending_ms"`
	LastDelivered   string         `json:"last_delivered"`
	Consumers       []consumerJSON `json:"consumers"`
}

type consumerJSON struct {
	Name    string  `json:"name"`
	Pending int64   `json:"pending"`
	IdleMS  float64 `json:"idle_ms"`
}

func statusCommand(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "status [STREAM...]",
		Short: "Every NecroStack stream (or those named): length, dead letters, groups, lag, consumers",
		Long: "status lists the NecroStack streams on the server (the streams whose entries are events,\n" +
			"or that have a consumer group; not their dead-letter streams), or the streams named, with\n" +
			"each one's length, its dead letters (STREAM:dlq), and each consumer group's lag (entries not\n" +
			"yet delivered), pending entries (delivered, not acknowledged), the age of the oldest, and\n" +
			"its consumers with what they hold and how long they have been idle.",
		Example: "  necro status\n  necro status necrostack:seance -o json\n  necro status --redis-url redis://:secret@10.0.0.5:6379/0",
		RunE: o.inspected(func(cmd *cobra.Command, in *nsredis.Inspector, args []string) error {
			streams := args
			if len(streams) == 0 {
				var err error
				if streams, err = in.Streams(cmd.Context()); err != nil {
					return err
				}
				if len(streams) == 0 {
					return notFound{fmt.Errorf("no NecroStack streams on %s", in.URL())}
				}
			}
			out := make([]streamJSON, 0, len(streams))
			for _, s := range streams {
				st, err := in.Stats(cmd.Context(), s)
				if err != nil {
					return err
				}
				out = append(out, toJSON(st))
			}
			if o.output == "json" {
				return o.printJSON(out)
			}
			return printStatus(o, out)
		}),
	}
}

func toJSON(st nsredis.StreamStats) streamJSON {
	s := streamJSON{Stream: st.Stream, Length: st.Length, DeadLetters: st.DeadLetters, Groups: []groupJSON{}}
	for _, g := range st.Groups {
		gj := groupJSON{Name: g.Name, Lag: g.Lag, Pending: g.Pending, OldestPendingMS: ms(g.OldestPending),
			LastDelivered: g.LastDelivered, Consumers: []consumerJSON{}}
		for _, c := range g.Consumers {
			gj.Consumers = append(gj.Consumers, consumerJSON{Name: c.Name, Pending: c.Pending, IdleMS: ms(c.Idle)})
		}
		s.Groups = append(s.Groups, gj)
	}
	return s
}

// printStatus prints the streams for people: a line per stream, a line per
// group under it, and a line per consumer under that.
func printStatus(o *options, streams []streamJSON) error {
	w := tabwriter.NewWriter(o.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "STREAM\tLENGTH\tDEAD LETTERS\tGROUP\tLAG\tPENDING\tOLDEST PENDING\tCONSUMER\tHOLDS\tIDLE")
	for _, s := range streams {
		fmt.Fprintf(w, "%s\t%d\t%d\t\t\t\t\t\t\t\n", s.Stream, s.Length, s.DeadLetters)
		for _, g := range s.Groups {
			fmt.Fprintf(w, "\t\t\t%s\t%d\t%d\t%s\t\t\t\n", g.Name, g.Lag, g.Pending, age(g.OldestPendingMS, g.Pending > 0))
			for _, c := range g.Consumers {
				fmt.Fprintf(w, "\t\t\t\t\t\t\t%s\t%d\t%s\n", c.Name, c.Pending, age(c.IdleMS, true))
			}
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return printPartitioned(o, streams)
}

// partitioned is a partitioned stream's partitions summed, as status
// prints it under the streams.
type partitioned struct {
	stream              string
	partitions          int
	length, deadLetters int64
	groups              []string
	lag, pending        map[string]int64
}

// printPartitioned prints, when some of streams are partitions of a
// stream (redis.PartitionStream), each such stream's partitions summed.
func printPartitioned(o *options, streams []streamJSON) error {
	var order []string
	sums := map[string]*partitioned{}
	for _, s := range streams {
		base, _, ok := nsredis.PartitionOfStream(s.Stream)
		if !ok {
			continue
		}
		p := sums[base]
		if p == nil {
			p = &partitioned{stream: base, lag: map[string]int64{}, pending: map[string]int64{}}
			sums[base] = p
			order = append(order, base)
		}
		p.partitions++
		p.length += s.Length
		p.deadLetters += s.DeadLetters
		for _, g := range s.Groups {
			if _, seen := p.lag[g.Name]; !seen {
				p.groups = append(p.groups, g.Name)
			}
			p.lag[g.Name] += g.Lag
			p.pending[g.Name] += g.Pending
		}
	}
	if len(order) == 0 {
		return nil
	}
	fmt.Fprintln(o.stdout)
	w := tabwriter.NewWriter(o.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "PARTITIONED STREAM\tPARTITIONS\tLENGTH\tDEAD LETTERS\tGROUP\tLAG\tPENDING")
	for _, base := range order {
		p := sums[base]
		fmt.Fprintf(w, "%s\t%d\t%d\t%d\t\t\t\n", p.stream, p.partitions, p.length, p.deadLetters)
		for _, g := range p.groups {
			fmt.Fprintf(w, "\t\t\t\t%s\t%d\t%d\n", g, p.lag[g], p.pending[g])
		}
	}
	return w.Flush()
}

// age prints a duration in milliseconds for people, "-" when there is none.
func age(ms float64, some bool) string {
	if !some {
		return "-"
	}
	switch {
	case ms < 1000:
		return fmt.Sprintf("%.0fms", ms)
	case ms < 120_000:
		return fmt.Sprintf("%.1fs", ms/1000)
	default:
		return fmt.Sprintf("%.0fm", ms/60_000)
	}
}
