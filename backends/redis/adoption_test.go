package redis_test

import (
	"testing"

	nsredis "github.com/necrostack/necrostack/backends/redis"
	"github.com/necrostack/necrostack/core/necrotest"
)

// The harness bounds events as this backend does by default, so that a
// suite passing in the harness is not refused here; it cannot import this
// package to say so, hence this check.
func TestDefaultMaxEventBytesMatchesTheHarness(t *testing.T) {
	if nsredis.DefaultMaxEventBytes != necrotest.DefaultMaxEventBytes {
		t.Errorf("redis.DefaultMaxEventBytes = %d, necrotest.DefaultMaxEventBytes = %d: they must agree",
			nsredis.DefaultMaxEventBytes, necrotest.DefaultMaxEventBytes)
	}
}

// A failed New returns a nil *Backend; closing it, as a deferred Close
// written before the error check would, must not panic.
func TestCloseOfNilBackend(t *testing.T) {
	var b *nsredis.Backend
	if err := b.Close(); err != nil {
		t.Errorf("Close of a nil *Backend: %v, want nil", err)
	}
}
