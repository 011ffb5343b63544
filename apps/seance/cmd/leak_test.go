package main

import (
	"os"
	"testing"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/necrostack/necrostack/worker/workertest"
)

// TestMain fails the package if a test leaves a goroutine behind, such as
// a Spine that outlived its run. Like main, it silences go-redis's own logs.
// It removes the binary the tests built once they have run.
func TestMain(m *testing.M) {
	goredis.SetLogger(silentRedis{})
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		workertest.RemoveBuilds()
		os.Exit(code)
	}))
}
