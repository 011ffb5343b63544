// Command necrobench runs the séance chain for N rituals on NecroStack or
// Watermill, in memory or on Redis, and prints one JSON line:
//
//	{"system":"necrostack","backend":"redis","chain":"seance","rituals":300000,"handled":1200000,
//	 "seconds":13.2,"handled_per_s":90543,"p50_ms":10.5,"p99_ms":15.0,"allocs_per_handled":34.7,
//	 "max_rss_mb":20.3,"concurrency":1,"persistence":"none","rate":0,"window":256,"gomaxprocs":2}
//
// Usage:
//
//	go run ./bench/cmd [-system necrostack|watermill] [-backend memory|redis] [-rituals N]
//	                   [-concurrency N] [-window N] [-rate R] [-redis-url URL]
//	                   [-persistence LABEL] [-stream KEY] [-cpuprofile FILE] [-memprofile FILE]
//
// With -backend redis, -redis-url is required; the server's persistence is
// the caller's to set up, and -persistence only labels it in the output. Each
// run uses fresh stream keys (or -stream, which must not exist) and deletes
// them at the end. -rate R paces the producer at R rituals per second, for
// latency; without it the rituals go as fast as the system takes them, at
// most -window in flight. -cpuprofile covers the timed part only.
//
// Errors go to stderr. The exit code is 0 on success, 1 when the run failed
// or came out wrong (an omen missing, repeated or incomplete, an organ call
// too many), 2 for a bad command line. Package
// github.com/necrostack/necrostack/bench says what is measured and how.
package main
