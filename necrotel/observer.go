package necrotel

import (
	"context"
	"time"

	"github.com/necrostack/necrostack/core"
)

// chain returns an Observer that calls a's hooks, then b's; a may be nil.
func chain(a, b *core.Observer) *core.Observer {
	if a == nil {
		return b
	}
	c := *b
	if f, g := a.Pulled, b.Pulled; f != nil {
		c.Pulled = f
		if g != nil {
			c.Pulled = func(ctx context.Context, d core.Delivery) { f(ctx, d); g(ctx, d) }
		}
	}
	if f, g := a.OrganStarted, b.OrganStarted; f != nil {
		c.OrganStarted = f
		if g != nil {
			c.OrganStarted = func(ctx context.Context, organ string, e core.Event, attempt int) {
				f(ctx, organ, e, attempt)
				g(ctx, organ, e, attempt)
			}
		}
	}
	if f, g := a.OrganFinished, b.OrganFinished; f != nil {
		c.OrganFinished = f
		if g != nil {
			c.OrganFinished = func(ctx context.Context, organ string, e core.Event, attempt int, emitted []core.Event, took time.Duration, err error) {
				f(ctx, organ, e, attempt, emitted, took, err)
				g(ctx, organ, e, attempt, emitted, took, err)
			}
		}
	}
	if f, g := a.Retried, b.Retried; f != nil {
		c.Retried = f
		if g != nil {
			c.Retried = func(ctx context.Context, organ string, e core.Event, attempt int, wait time.Duration, err error) {
				f(ctx, organ, e, attempt, wait, err)
				g(ctx, organ, e, attempt, wait, err)
			}
		}
	}
	if f, g := a.Committed, b.Committed; f != nil {
		c.Committed = f
		if g != nil {
			c.Committed = func(ctx context.Context, d core.Delivery, out core.Outcome, took time.Duration, batch int) {
				f(ctx, d, out, took, batch)
				g(ctx, d, out, took, batch)
			}
		}
	}
	if f, g := a.DeadLettered, b.DeadLettered; f != nil {
		c.DeadLettered = f
		if g != nil {
			c.DeadLettered = func(ctx context.Context, dl core.DeadLetter) { f(ctx, dl); g(ctx, dl) }
		}
	}
	if f, g := a.CommitFailed, b.CommitFailed; f != nil {
		c.CommitFailed = f
		if g != nil {
			c.CommitFailed = func(ctx context.Context, d core.Delivery, err error, attempt int) {
				f(ctx, d, err, attempt)
				g(ctx, d, err, attempt)
			}
		}
	}
	if f, g := a.Released, b.Released; f != nil {
		c.Released = f
		if g != nil {
			c.Released = func(ctx context.Context, d core.Delivery) { f(ctx, d); g(ctx, d) }
		}
	}
	return &c
}
