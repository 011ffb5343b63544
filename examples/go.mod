module github.com/necrostack/necrostack/examples

go 1.26.0

require (
	github.com/alicebob/miniredis/v2 v2.40.0
	github.com/necrostack/necrostack/backends/memory v0.1.0
	github.com/necrostack/necrostack/backends/redis v0.1.0
	github.com/necrostack/necrostack/core v0.1.0
	github.com/necrostack/necrostack/worker v0.1.0
)

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/google/uuid v1.6.0 // indirect
	github.com/redis/go-redis/v9 v9.23.0 // indirect
	github.com/yuin/gopher-lua v1.1.1 // indirect
	go.uber.org/atomic v1.12.0 // indirect
	golang.org/x/sys v0.48.0 // indirect
)

replace (
	github.com/necrostack/necrostack/backends/memory => ../backends/memory
	github.com/necrostack/necrostack/backends/redis => ../backends/redis
	github.com/necrostack/necrostack/core => ../core
	github.com/necrostack/necrostack/worker => ../worker
)
