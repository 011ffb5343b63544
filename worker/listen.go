package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	nsredis "github.com/necrostack/necrostack/backends/redis"
	"github.com/necrostack/necrostack/core"
)

// readyTimeout bounds one readiness check.
const readyTimeout = 2 * time.Second

// listener is the optional HTTP listener (-listen).
type listener struct {
	srv  *http.Server
	done chan struct{}

	mu    sync.Mutex
	ready func(context.Context) error // nil: not ready (starting, or stopping)
}

// listen starts the listener when -listen asks for one; without, it
// returns a listener that serves nothing.
func (p *Process) listen() (*listener, error) {
	l := &listener{}
	if p.Listen == "" {
		return l, nil
	}
	ln, err := net.Listen("tcp", p.Listen)
	if err != nil {
		return nil, fmt.Errorf("-listen %s: %w", p.Listen, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := l.check(r.Context()); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			// Backend errors never hold the password; the URL is shown
			// redacted anyway.
			fmt.Fprintf(w, "not ready: %s\n", nsredis.Redact(err.Error(), p.RedisURL))
			return
		}
		fmt.Fprintln(w, "ready")
	})
	if p.App.HTTP != nil {
		p.App.HTTP(mux, p)
	}
	p.otel.serve(mux) // unless the app serves /metrics itself
	l.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	l.done = make(chan struct{})
	go func() {
		defer close(l.done)
		if err := l.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			p.Log.LogAttrs(context.Background(), slog.LevelError, "http listener stopped", slog.String(core.KeyError, err.Error()))
		}
	}()
	p.Log.LogAttrs(context.Background(), slog.LevelInfo, "listening", slog.String(keyListen, ln.Addr().String()))
	return l, nil
}

func (l *listener) setReady(f func(context.Context) error) {
	l.mu.Lock()
	l.ready = f
	l.mu.Unlock()
}

func (l *listener) check(ctx context.Context) error {
	l.mu.Lock()
	f := l.ready
	l.mu.Unlock()
	if f == nil {
		return errors.New("the backend is not open: starting or stopping")
	}
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	return f(ctx)
}

// close stops the listener, letting requests under way finish briefly.
func (l *listener) close() {
	if l.srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = l.srv.Shutdown(ctx)
	<-l.done
}
