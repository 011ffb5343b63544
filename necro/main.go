// Command necro is NecroStack's operator tool: what the streams of a Redis
// server hold, which consumer holds what, and for how long.
//
//	necro status                     every NecroStack stream: length, dead letters, groups, lag, consumers
//	necro status orders:events -o json
//	necro pending orders:events      entries delivered and not acknowledged, by consumer
//	necro dlq ls orders:events       dead letters; dlq show, dlq redrive, dlq purge act on them
//	necro tail orders:events         follow the entries as they come
//	necro trace orders:events ID     the chain of an event, as a tree or a picture (--format svg)
//	necro graph orders:events        the flow of event types, with counts and dead letters
//	necro web                        the dashboard, on 127.0.0.1:8080
//
// It reads the server through the Redis backend's Inspector: it joins no
// consumer group, and changes nothing but the dead letters it is told to
// redrive or purge. --redis-url (default
// $NECROSTACK_REDIS_URL, else redis://localhost:6379/0) names the server;
// -o json prints one JSON document for scripts. Exit codes: 0 done; 1 what
// was asked for is not there (no such stream, no NecroStack stream on the
// server, no such group); 2 bad flags or arguments; 3 Redis could not be
// reached; 4 Redis refused (a password, a permission). `necro completion
// bash|zsh|fish|powershell` prints a completion script.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	goredis "github.com/redis/go-redis/v9"
)

// silent drops go-redis's own log lines (a failed dial, in plain text): the
// command reports what failed itself, in one line.
type silent struct{}

func (silent) Printf(context.Context, string, ...any) {}

func main() {
	goredis.SetLogger(silent{})
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}
