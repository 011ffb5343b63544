package redis

import (
	_ "embed" // the Lua scripts

	goredis "github.com/redis/go-redis/v9"
)

// The backend's Lua scripts, each in scripts/ with its KEYS and ARGV. Field
// names of entries and dead letters are passed in ARGV, so that they are
// spelled once, in Go (entry.go, deadletters.go).
var (
	//go:embed scripts/commit.lua
	commitLua string
	//go:embed scripts/takeback.lua
	takeBackLua string
	//go:embed scripts/removeidle.lua
	removeIdleLua string
	//go:embed scripts/redrive.lua
	redriveLua string
	//go:embed scripts/trim.lua
	trimLua string
	//go:embed scripts/lease.lua
	leaseLua string
	//go:embed scripts/enqueue.lua
	enqueueLua string
	//go:embed scripts/probe.lua
	probeLua string
	//go:embed scripts/owner.lua
	ownerLua string
	//go:embed scripts/members.lua
	membersLua string
	//go:embed scripts/fencedread.lua
	fencedReadLua string
	//go:embed scripts/relay.lua
	relayLua string

	commitScript     = goredis.NewScript(commitLua)
	takeBackScript   = goredis.NewScript(takeBackLua)
	removeIdleScript = goredis.NewScript(removeIdleLua)
	redriveScript    = goredis.NewScript(redriveLua)
	trimScript       = goredis.NewScript(trimLua)
	leaseScript      = goredis.NewScript(leaseLua)
	enqueueScript    = goredis.NewScript(enqueueLua)
	probeScript      = goredis.NewScript(probeLua)
	ownerScript      = goredis.NewScript(ownerLua)
	membersScript    = goredis.NewScript(membersLua)
	fencedReadScript = goredis.NewScript(fencedReadLua)
	relayScript      = goredis.NewScript(relayLua)
)
