package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	nsredis "github.com/necrostack/necrostack/backends/redis"
	"github.com/necrostack/necrostack/core"
)

// Exit codes.
const (
	exitOK          = 0
	exitNotFound    = 1 // what was asked for is not there
	exitUsage       = 2
	exitUnreachable = 3
	exitRefused     = 4
)

// options are the flags every command takes.
type options struct {
	url     string
	output  string
	timeout time.Duration
	stdin   io.Reader
	stdout  io.Writer
	stderr  io.Writer
}

// usageError is a bad flag or argument.
type usageError struct{ error }

// notFound is an answer that what was asked for is not there.
type notFound struct{ error }

// run runs the command line args and returns the exit code; errors go to
// stderr, one line each.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	o := &options{stdin: stdin, stdout: stdout, stderr: stderr}
	root := newRoot(ctx, o, getenv)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(stderr, "necro: %v\n", err)
	var ue usageError
	var ce *nsredis.ConfigError
	switch {
	case errors.As(err, &ue), errors.As(err, &ce), errors.Is(err, nsredis.ErrNotEntryID):
		return exitUsage
	case isNotFound(err):
		return exitNotFound
	case errors.Is(err, core.ErrFatal):
		return exitRefused
	case isCobraUsage(err):
		return exitUsage
	default:
		return exitUnreachable
	}
}

// isCobraUsage tells the errors cobra returns for a bad command line.
func isCobraUsage(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "flag needs an argument", "invalid argument", "accepts ", "requires at least", "requires exactly"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

func newRoot(ctx context.Context, o *options, getenv func(string) string) *cobra.Command {
	root := &cobra.Command{
		Use:   "necro",
		Short: "Look into NecroStack's streams on Redis",
		Long: "necro shows what NecroStack's Redis streams hold: their length, dead letters, consumer groups,\n" +
			"lag and consumers, which consumer holds which entry, the dead letters and the chains; it changes\n" +
			"nothing but the dead letters it is told to redrive or purge.\n\n" +
			"Exit codes: 0 done; 1 not there (stream, group); 2 bad usage; 3 Redis unreachable; 4 Redis refused.",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(*cobra.Command, []string) error {
			// The URL's default is read here, not shown in the help: it
			// may hold a password.
			if o.url == "" {
				o.url = getenv("NECROSTACK_REDIS_URL")
			}
			if o.url == "" {
				o.url = nsredis.DefaultURL
			}
			if o.output != "text" && o.output != "json" {
				return usageError{fmt.Errorf("-o %q: want text or json", o.output)}
			}
			if o.timeout <= 0 {
				return usageError{fmt.Errorf("--timeout %v: must be positive", o.timeout)}
			}
			return nil
		},
	}
	root.PersistentFlags().StringVar(&o.url, "redis-url", "", "the Redis server, redis://[user:password@]host:port[/db] (default $NECROSTACK_REDIS_URL, else redis://localhost:6379/0)")
	root.PersistentFlags().StringVarP(&o.output, "output", "o", "text", "text for people, json for scripts")
	root.PersistentFlags().DurationVar(&o.timeout, "timeout", 2*time.Second, "bound of each Redis command")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(statusCommand(o), pendingCommand(o), dlqCommand(o), tailCommand(o), traceCommand(o), graphCommand(o), webCommand(o, getenv))
	return root
}

// inspector connects to o's server.
func (o *options) inspector(ctx context.Context) (*nsredis.Inspector, error) {
	return nsredis.NewInspector(ctx, o.url, o.timeout)
}

// inspected is a command's RunE that runs f with an Inspector of o's
// server, closed after it.
func (o *options) inspected(f func(cmd *cobra.Command, in *nsredis.Inspector, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		in, err := o.inspector(cmd.Context())
		if err != nil {
			return err
		}
		defer in.Close()
		return f(cmd, in, args)
	}
}

// printJSON writes v as indented JSON.
func (o *options) printJSON(v any) error {
	enc := json.NewEncoder(o.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// ms is d in milliseconds, rounded to 0.1.
func ms(d time.Duration) float64 { return float64(d.Round(100*time.Microsecond)) / 1e6 }

// isNotFound reports whether err says that what was asked for is not
// there: exit 1, or a 404 in the dashboard.
func isNotFound(err error) bool {
	var nf notFound
	return errors.As(err, &nf) || errors.Is(err, nsredis.ErrNoStream) || errors.Is(err, nsredis.ErrNoGroup) || errors.Is(err, nsredis.ErrNoDeadLetter)
}
