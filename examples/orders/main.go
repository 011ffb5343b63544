// Command orders is the README's worker: its organs, and where its events
// live; the worker runtime does the rest.
package main

import (
	"github.com/necrostack/necrostack/core"
	"github.com/necrostack/necrostack/worker"
)

func main() { worker.Main(orders()) }

func orders() worker.App {
	return worker.App{
		Name:   "orders",
		Stream: "orders:events",
		Organs: func(p *worker.Process) ([]core.Organ, error) {
			return []core.Organ{Validator{}, Charger{}, Shipper{Out: p.Stdout}}, nil
		},
	}
}
