package main

import (
	"testing"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine behind, such as
// a Spine that outlived its run. Like main, it silences go-redis's own logs.
func TestMain(m *testing.M) {
	goredis.SetLogger(silentRedis{})
	goleak.VerifyTestMain(m)
}
