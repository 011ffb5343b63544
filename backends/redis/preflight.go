package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	goredis "github.com/redis/go-redis/v9"

	"github.com/necrostack/necrostack/core"
)

// Errors that waiting cannot mend are fatal (core.Fatal): the Spine stops
// instead of retrying them, and New fails on them where it can tell. They
// are a refused password (NOAUTH, WRONGPASS) or permission (NOPERM, and
// the refusals of commands inside scripts), a key of the wrong type
// (WRONGTYPE), and a server older than Redis 7.0. Everything else (an
// outage, a timeout, a reset connection) is transient.
var fatalPrefixes = []string{"NOAUTH", "WRONGPASS", "NOPERM", "WRONGTYPE"}

// scriptRefusal is how Redis words a permission refused inside a script.
const scriptRefusal = "The user executing the script can't"

// classify returns err marked fatal when waiting cannot mend it.
func classify(err error) error {
	if err == nil || errors.Is(err, core.ErrFatal) {
		return err
	}
	for _, p := range fatalPrefixes {
		if goredis.HasErrorPrefix(err, p) {
			return core.Fatal(err)
		}
	}
	if strings.Contains(err.Error(), scriptRefusal) {
		return core.Fatal(err)
	}
	if goredis.HasErrorPrefix(err, "CROSSSLOT") {
		// The backend sends a command of several slots only to a single
		// server (merged reads and commits): this one is a cluster's node.
		return core.Fatal(fmt.Errorf("%w (the server is a node of a Redis Cluster: connect with a cluster URL, cluster=true&addr=…, or a go-redis ClusterClient)", err))
	}
	return err
}

// minMajor is the oldest Redis major version the backend works with.
const minMajor = 7

// preflight checks, once, that the server can serve the backend: Redis 7.0
// or later, the consumer group there (ModeGroup), this user allowed every
// command the backend sends, and the keys holding streams (scripts/probe.lua).
// A fatal error says which; an unreachable server is not fatal, and Pull
// runs the check again until it passes.
func (b *Backend) preflight(ctx context.Context) error {
	if b.checked.Load() {
		return nil
	}
	ctx, cancel := bounded(ctx, b.cfg.Timeout)
	defer cancel()
	if err := b.checkVersion(ctx); err != nil {
		return err
	}
	for _, key := range b.commits.keys[:2] {
		t, err := b.rdb.Type(ctx, key).Result()
		if err != nil {
			return classify(b.refused(fmt.Errorf("redis: type of %s: %w", key, err)))
		}
		if t != "stream" && t != "none" {
			return core.Fatal(fmt.Errorf("redis: WRONGTYPE key %s holds a %s, not a stream", key, t))
		}
	}
	if b.cfg.Mode == ModeGroup {
		if _, err := b.reader.ensureGroup(ctx, "0"); err != nil {
			return classify(err)
		}
		if err := b.reader.refreshSeen(ctx); err != nil {
			return classify(fmt.Errorf("redis: group info: %w", err))
		}
	}
	if err := b.probe(ctx); err != nil {
		return err
	}
	b.checked.Store(true)
	return nil
}

// probe checks that this user may load scripts (EVAL: EVALSHA alone
// fails once Redis has forgotten them, after a restart), then runs
// scripts/probe.lua.
func (b *Backend) probe(ctx context.Context) error {
	err := b.rdb.Eval(ctx, "return 1", nil).Err()
	if err == nil {
		err = probeScript.Run(ctx, b.rdb, b.commits.keys, b.cfg.Group, b.cfg.Consumer, fieldEvent).Err()
	}
	if err != nil {
		return classify(b.refused(fmt.Errorf("redis: check the permissions the backend needs: %w", err)))
	}
	return nil
}

// refused adds to a refusal of keys which keys the backend uses: Redis does
// not say which one it refused.
func (b *Backend) refused(err error) error {
	if !strings.Contains(err.Error(), "permissions to access") {
		return err
	}
	return fmt.Errorf("%w: the backend uses the keys %s (stream), %s (dead letters) and %s:commit:* (commit records); allow this user all of them",
		err, b.cfg.Stream, b.cfg.DeadLetterStream, b.cfg.Stream)
}

// checkVersion refuses a server older than Redis 7.0. A user not allowed
// INFO, or a server whose INFO has no version, passes.
func (b *Backend) checkVersion(ctx context.Context) error {
	info, err := b.rdb.Info(ctx, "server").Result()
	var reply goredis.Error
	switch {
	case err == nil:
	case goredis.HasErrorPrefix(err, "NOPERM"):
		return nil // not allowed INFO: the probe still finds what the user may not run
	case errors.As(err, &reply) && !errors.Is(classify(err), core.ErrFatal):
		return nil // a server that answers without a version (a Redis look-alike)
	default:
		return classify(fmt.Errorf("redis: server info: %w", err))
	}
	for line := range strings.Lines(info) {
		v, ok := strings.CutPrefix(strings.TrimSpace(line), "redis_version:")
		if !ok {
			continue
		}
		major, _, _ := strings.Cut(v, ".")
		if n, err := strconv.Atoi(major); err == nil && n < minMajor {
			return core.Fatal(fmt.Errorf("redis: the server is Redis %s: the backend needs %d.0 or later (stream commands it uses are missing before)", v, minMajor))
		}
	}
	return nil
}

// Ready reports whether the backend can work now: the server answers, and
// lets this user run what the backend needs (see preflight). A worker's
// readiness check calls it.
func (b *Backend) Ready(ctx context.Context) error {
	if b.isClosed() {
		return core.ErrClosed
	}
	ctx, cancel := bounded(ctx, b.cfg.Timeout)
	defer cancel()
	if err := b.Ping(ctx); err != nil {
		return err
	}
	if !b.checked.Load() {
		return b.preflight(ctx)
	}
	return b.probe(ctx)
}
