package redisenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	tc "github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
)

// Environment variables that choose the kind of Redis and its image.
const (
	EnvImage         = "NECROSTACK_REDIS_IMAGE"
	EnvRequireDocker = "NECROSTACK_E2E_REQUIRE_DOCKER"
	EnvKind          = "NECROSTACK_E2E_REDIS_KIND"
	envRyukDisabled  = "TESTCONTAINERS_RYUK_DISABLED"
)

// PublicImage is the image tried after NECROSTACK_REDIS_IMAGE and before
// building one.
const PublicImage = "redis:7-alpine"

// LocalImage is the tag of the image built from the host's redis-server.
const LocalImage = "necrostack-e2e-redis:local"

// pullTimeout bounds the attempt to pull PublicImage: on a machine without
// a registry it must fail fast, not hang the run.
const pullTimeout = 15 * time.Second

// environment is what every Redis of this test binary shares: the kind, and
// for the docker kind the provider and the image.
type environment struct {
	kind   Kind
	detail string // how the kind and the image were chosen
	skip   string // why no Redis can run here, when none is required
	err    error  // why the required kind cannot run

	// docker
	provider *tc.DockerProvider
	image    string
	cmd      []string // the container's command before redis-server's options

	// process
	redisServer string
}

var (
	envOnce sync.Once
	env     *environment
)

// environmentOnce resolves the environment on first use, and reports it on
// stdout.
func environmentOnce() *environment {
	envOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		env = resolve(ctx)
		switch {
		case env.err != nil:
			fmt.Printf("redisenv: no Redis: %v\n", env.err)
		case env.skip != "":
			fmt.Printf("redisenv: no Redis, tests skipped: %s\n", env.skip)
		default:
			fmt.Printf("redisenv: Redis kind %s (%s)\n", env.kind, env.detail)
		}
	})
	return env
}

func resolve(ctx context.Context) *environment {
	forced := Kind(os.Getenv(EnvKind))
	require := truthy(os.Getenv(EnvRequireDocker))
	switch forced {
	case "", Docker, Process:
	default:
		return &environment{err: fmt.Errorf("%s=%q: want %q or %q", EnvKind, forced, Docker, Process)}
	}
	if forced == Process {
		if require {
			return &environment{err: fmt.Errorf("%s=%s contradicts %s", EnvKind, Process, EnvRequireDocker)}
		}
		return processEnvironment("forced by " + EnvKind)
	}

	// Ryuk, the reaper container, would have to be pulled; the tests remove
	// their containers themselves. Read once by testcontainers, so set
	// before its first call.
	if os.Getenv(envRyukDisabled) == "" {
		os.Setenv(envRyukDisabled, "true")
	}
	p, err := dockerProvider(ctx)
	if err != nil {
		if require || forced == Docker {
			why := EnvRequireDocker + " is set"
			if !require {
				why = EnvKind + "=" + string(Docker)
			}
			return &environment{err: fmt.Errorf("a Docker engine is required (%s) but cannot be reached: %w", why, err)}
		}
		return processEnvironment("Docker cannot be reached: " + oneLine(err))
	}
	removeLeftovers(ctx, p)
	e, err := dockerEnvironment(ctx, p)
	if err != nil {
		return &environment{err: err}
	}
	return e
}

func truthy(s string) bool {
	switch strings.ToLower(s) {
	case "1", "true", "yes", "on":
		return true
	}
	return false
}

func processEnvironment(why string) *environment {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return &environment{skip: why + "; and no redis-server on PATH for the process kind (apt-get install redis-server)"}
	}
	return &environment{kind: Process, redisServer: bin, detail: bin + "; " + why}
}

// dockerProvider connects to the Docker engine, within a bound, and turns
// testcontainers' panics on a missing engine into errors.
func dockerProvider(ctx context.Context) (*tc.DockerProvider, error) {
	type result struct {
		p   *tc.DockerProvider
		err error
	}
	ch := make(chan result, 1)
	go func() {
		defer func() {
			if v := recover(); v != nil {
				ch <- result{err: fmt.Errorf("testcontainers: %v", v)}
			}
		}()
		p, err := tc.NewDockerProvider(tc.WithLogger(tclog.NewNoopLogger()))
		if err == nil {
			hctx, cancel := context.WithTimeout(ctx, 15*time.Second)
			err = p.Health(hctx)
			cancel()
		}
		ch <- result{p, err}
	}()
	select {
	case r := <-ch:
		return r.p, r.err
	case <-time.After(30 * time.Second):
		return nil, errors.New("no answer from the Docker engine within 30s")
	}
}
