// Command relay is the worker runtime's test program: a two-stage chain
// (PING emits PONG) whose organs take -delay each, and which prints each
// PONG it handles.
package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/necrostack/necrostack/core"
	"github.com/necrostack/necrostack/worker"
)

func main() {
	var delay time.Duration
	worker.Main(worker.App{
		Name:   "relay",
		Stream: "relay:events",
		Flags:  func(fs *flag.FlagSet) { fs.DurationVar(&delay, "delay", 0, "how long each organ call takes") },
		Organs: func(p *worker.Process) ([]core.Organ, error) {
			wait := func(ctx context.Context) error {
				select {
				case <-time.After(delay):
					return nil
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			return []core.Organ{
				core.OrganFunc("Pinger", []string{"PING"}, func(ctx context.Context, e core.Event) ([]core.Event, error) {
					if err := wait(ctx); err != nil {
						return nil, err
					}
					pong, err := core.NewEvent("PONG", e.Payload())
					return core.Emit(pong), err
				}),
				core.OrganFunc("Ponger", []string{"PONG"}, func(ctx context.Context, e core.Event) ([]core.Event, error) {
					if err := wait(ctx); err != nil {
						return nil, err
					}
					fmt.Fprintf(p.Stdout, "pong %s\n", e.Payload())
					return nil, nil
				}),
			}, nil
		},
	})
}
