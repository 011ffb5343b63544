// Package redisenv gives each end-to-end test a real Redis of its own that
// the test can kill, stop and start again on the same address, the way a
// crash, a deployment or an operator would.
//
// # Kinds
//
// Start runs Redis one of two ways, chosen once per test binary and reported
// on stdout and in each test's log:
//
//   - docker: a container started with testcontainers-go, its port 6379
//     published on 127.0.0.1 at a fixed host port (the host config's port
//     binding), so that after Kill and Start clients reconnect to the same
//     address. The container is kept across restarts, so its data directory,
//     and the append-only file in it, survives a kill. Tests reach it only
//     through that published port, never through a container IP.
//   - process: redis-server as a child process on a free loopback port with
//     a data directory of its own, when Docker cannot be reached.
//
// # The image
//
// The docker kind uses, in order: the image named by NECROSTACK_REDIS_IMAGE;
// the public redis:7-alpine image when it is present or can be pulled within
// a few seconds; else an image built once per test binary run, FROM scratch,
// out of the host's redis-server binary and every shared library ldd lists
// for it (the dynamic loader included), at the same paths, tagged
// necrostack-e2e-redis:local and kept for the next run (the build then comes
// from Docker's cache). A machine without a registry thus still runs the
// docker kind, as long as redis-server is installed.
//
// # Environment
//
//	NECROSTACK_REDIS_IMAGE=IMAGE        use this image (its redis-server must be on PATH)
//	NECROSTACK_E2E_REQUIRE_DOCKER=1     a missing Docker engine fails the test instead of
//	                                    falling back to the process kind (CI sets it)
//	NECROSTACK_E2E_REDIS_KIND=process   force a kind: docker or process
//	TESTCONTAINERS_RYUK_DISABLED        set to true when unset: every container is
//	                                    removed by the test's cleanup instead
//
// Containers carry the label necrostack.e2e.pid with the test binary's pid;
// a later run removes those whose process is gone (a binary killed by
// go test -timeout runs no cleanup).
//
// # Persistence
//
// Redis runs with appendonly yes and appendfsync always, so that a kill loses
// no acknowledged write, unless Config.NoPersistence turns every form of
// persistence off, and a restart then starts empty.
package redisenv
