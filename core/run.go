package core

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"
)

// Run pulls and handles events until ctx is cancelled, MaxSteps is exceeded
// (ErrMaxStepsExceeded) or the backend is closed (an error wrapping
// ErrClosed). A cancelled ctx is a normal stop: Run stops pulling, lets the
// events in flight finish within ShutdownTimeout, commits them and returns
// nil. No goroutine started by Run outlives it.
func (s *Spine) Run(ctx context.Context) error { return s.run(ctx, false) }

// RunUntilIdle is Run that also returns nil once a pull has waited
// PullTimeout while no event was in flight: the chain has quiesced. It is
// meant for batch jobs, demos and tests on backends that only this process
// feeds.
func (s *Spine) RunUntilIdle(ctx context.Context) error { return s.run(ctx, true) }

// run wires one run: the pull loop hands deliveries to the handlers, which
// commit their outcomes directly or through a batcher, while a watcher
// bounds how long the handlers may take once the pull loop has stopped.
func (s *Spine) run(ctx context.Context, untilIdle bool) (result error) {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("spine: already running")
	}
	defer s.running.Store(false)

	// Handlers outlive the pull loop by up to ShutdownTimeout, so they get
	// their own context: it takes that deadline when the loop stops, and
	// the watcher cancels it when the deadline passes.
	cancellable, cancelHandlers := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelHandlers()
	handleCtx := &drainCtx{Context: cancellable}
	loopCtx, stopLoop := context.WithCancel(ctx)
	s.halts.arm(stopLoop)
	watcher := watchShutdown(loopCtx, s.opts.ShutdownTimeout, s.log, handleCtx, cancelHandlers)
	pool := startHandlers(s, handleCtx)
	// Deferred, so that it holds if Pull panics too: stop pulling, let the
	// handlers finish and commit what they hold, and only then let the
	// watcher go, for it bounds all of that.
	defer func() {
		stopLoop()
		pool.stop()
		watcher.stop()
		if err := s.halts.result(); err != nil {
			result = fmt.Errorf("spine: stopped: %w", err)
		}
	}()
	return s.pullLoop(loopCtx, untilIdle, pool)
}

// pullLoop pulls and hands each delivery to pool until ctx is done, the
// backend is closed, MaxSteps is exceeded or, untilIdle, the chain has
// quiesced. It returns the run's result.
func (s *Spine) pullLoop(ctx context.Context, untilIdle bool, pool *handlerPool) error {
	steps := 0
	var outage pullOutage
	for ctx.Err() == nil {
		if !pool.reserve(ctx) {
			return nil
		}
		// Only this loop starts work, so with nothing in flight before the
		// pull, nothing can have finished (and emitted) during it.
		idleBefore := pool.idle()
		d, ok, err := s.backend.Pull(ctx, s.opts.PullTimeout)
		if !ok || err != nil {
			pool.unreserve()
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, ErrClosed) {
				return fmt.Errorf("spine: pull: %w", err)
			}
			if errors.Is(err, ErrFatal) {
				s.log.LogAttrs(ctx, slog.LevelError, "pull refused for good; the run stops", slog.String(KeyError, err.Error()))
				return fmt.Errorf("spine: pull: %w", err)
			}
			outage.failed(ctx, s.log, err)
			continue
		}
		outage.over(ctx, s.log)
		if !ok {
			if untilIdle && idleBefore {
				return nil
			}
			continue
		}
		steps++
		if s.opts.MaxSteps != NoStepLimit && steps > s.opts.MaxSteps {
			pool.unreserve()
			s.releaseDelivery(d)
			s.log.LogAttrs(ctx, slog.LevelError, "max steps exceeded",
				slog.Int(KeySteps, s.opts.MaxSteps), slog.String(KeyEventID, d.Event.ID()), slog.String(KeyCorrelationID, d.Event.CorrelationID()),
				slog.String(KeyEventType, d.Event.Type()))
			return ErrMaxStepsExceeded
		}
		s.stats.pulled.Add(1)
		if o := s.opts.Observer; o != nil && o.Pulled != nil {
			o.Pulled(ctx, d)
		}
		pool.dispatch(d)
	}
	return nil
}

// shutdownWatcher cancels the handlers' context once a timeout has passed
// since the pull loop stopped, unless the handlers are done first.
type shutdownWatcher struct {
	handlersDone chan struct{}
	stopped      chan struct{}
}

// watchShutdown starts a watcher that, once loopCtx is done, gives
// handleCtx the deadline timeout from then, and runs cancelHandlers when it
// passes.
func watchShutdown(loopCtx context.Context, timeout time.Duration, log *slog.Logger, handleCtx *drainCtx, cancelHandlers context.CancelFunc) *shutdownWatcher {
	w := &shutdownWatcher{handlersDone: make(chan struct{}), stopped: make(chan struct{})}
	go func() {
		defer close(w.stopped)
		select {
		case <-w.handlersDone:
			return
		case <-loopCtx.Done():
		}
		deadline := time.Now().Add(timeout)
		handleCtx.deadline.Store(&deadline)
		t := time.NewTimer(timeout)
		defer t.Stop()
		select {
		case <-w.handlersDone:
		case <-t.C:
			log.LogAttrs(loopCtx, slog.LevelWarn, "shutdown timeout: cancelling in-flight handlers",
				millis(KeyDuration, timeout))
			cancelHandlers()
		}
	}()
	return w
}

// drainCtx is the handlers' context. From the moment the pull loop stops it
// reports the shutdown deadline as its deadline, so that what bounds its
// calls by the context's deadline (the Redis backend's commits, an organ's
// I/O) ends by then; contexts derived from it later inherit the deadline.
// It is cancelled when the deadline passes.
type drainCtx struct {
	context.Context
	deadline atomic.Pointer[time.Time]
}

func (c *drainCtx) Deadline() (time.Time, bool) {
	d, ok := c.Context.Deadline()
	if p := c.deadline.Load(); p != nil && (!ok || p.Before(d)) {
		return *p, true
	}
	return d, ok
}

// stop says the handlers are done and waits for the watcher to return.
func (w *shutdownWatcher) stop() {
	close(w.handlersDone)
	<-w.stopped
}
