package redis_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	nsredis "github.com/necrostack/necrostack/backends/redis"
)

func TestRedact(t *testing.T) {
	tests := []struct {
		name, url, msg, want string
	}{
		{"as written", "redis://u:p4ss@h:6379", "auth p4ss refused", "auth xxxxx refused"},
		{"decoded", "redis://u:p%40ss@h:6379", "auth p@ss refused", "auth xxxxx refused"},
		{"escaped as written", "redis://u:p%40ss@h:6379", `parse "redis://u:p%40ss@h"`, `parse "redis://u:xxxxx@h"`},
		{"query-escaped", "redis://u:a%20b@h:6379", "got a+b", "got xxxxx"},
		{"unparsable URL", "redis://u:s3cr3t@h:bad port", `parse "redis://u:s3cr3t@h:bad port": invalid port`, `parse "redis://u:xxxxx@h:bad port": invalid port`},
		{"no password", "redis://h:6379", "nothing to hide", "nothing to hide"},
		{"user only", "redis://u@h:6379", "u is fine", "u is fine"},
		{"not a URL", "localhost:6379", "as is", "as is"},
	}
	for _, tt := range tests {
		if got := nsredis.Redact(tt.msg, tt.url); got != tt.want {
			t.Errorf("%s: Redact(%q, %q) = %q, want %q", tt.name, tt.msg, tt.url, got, tt.want)
		}
	}
}

func TestConfigValidation(t *testing.T) {
	tests := []struct {
		cfg       nsredis.Config
		wantField string
	}{
		{nsredis.Config{Mode: 7}, "Mode"},
		{nsredis.Config{Block: -time.Second}, "Block"},
		{nsredis.Config{Block: time.Microsecond}, "Block"},
		{nsredis.Config{Batch: -1}, "Batch"},
		{nsredis.Config{ClaimMinIdle: -1}, "ClaimMinIdle"},
		{nsredis.Config{ClaimInterval: -1}, "ClaimInterval"},
		{nsredis.Config{MaxDeliveries: -1}, "MaxDeliveries"},
		{nsredis.Config{MaxEventBytes: -1}, "MaxEventBytes"},
		{nsredis.Config{Trim: nsredis.Trim{MaxLen: -1}}, "Trim.MaxLen"},
		{nsredis.Config{Trim: nsredis.Trim{MaxAge: -1}}, "Trim.MaxAge"},
		{nsredis.Config{Trim: nsredis.Trim{Interval: -1}}, "Trim.Interval"},
		{nsredis.Config{Mode: nsredis.ModeStream, Trim: nsredis.Trim{MaxLen: 10}}, "Trim"},
		{nsredis.Config{Stream: "s", DeadLetterStream: "s"}, "DeadLetterStream"},
		{nsredis.Config{URL: "http://localhost:6379"}, "URL"},
		{nsredis.Config{URL: "redis://localhost:6379/notadb"}, "URL"},
	}
	for _, tt := range tests {
		_, err := nsredis.New(context.Background(), tt.cfg)
		var ce *nsredis.ConfigError
		if !errors.As(err, &ce) || ce.Field != tt.wantField {
			t.Errorf("New(%+v): got %v, want a ConfigError for %s", tt.cfg, err, tt.wantField)
		}
	}
}

func TestPasswordNeverInErrors(t *testing.T) {
	const secret = "s3cr3t-p4ss"
	urls := []string{
		"redis://user:" + secret + "@localhost:6379/notadb",
		"redis://user:" + secret + "@localhost:notaport",
		"redis://:" + secret + "@localhost:6379/0?dial_timeout=oops",
		"http://user:" + secret + "@localhost:6379",
	}
	for _, u := range urls {
		_, err := nsredis.New(context.Background(), nsredis.Config{URL: u, Logger: discard()})
		if err == nil {
			t.Errorf("New(%q) succeeded", nsredis.RedactURL(u))
			continue
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error leaks the password: %v", err)
		}
	}
	// A server that refuses: errors from the connection hold no password.
	b, err := nsredis.New(context.Background(), nsredis.Config{URL: "redis://user:" + secret + "@127.0.0.1:1", Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Enqueue(context.Background(), ev(t, "A", 0)); err == nil || strings.Contains(err.Error(), secret) {
		t.Errorf("Enqueue to a dead server: %v", err)
	}
	if got := nsredis.RedactURL("redis://user:" + secret + "@host:6379/0"); got != "redis://user:xxxxx@host:6379/0" {
		t.Errorf("RedactURL = %q", got)
	}
}

// On Redis Cluster a stream without a hash tag is refused by name, given
// as a cluster URL as well as a ClusterClient, before any connection.
func TestClusterStreamNeedsAHashTag(t *testing.T) {
	rdb := goredis.NewClusterClient(&goredis.ClusterOptions{Addrs: []string{"127.0.0.1:1"}})
	defer rdb.Close()
	for name, cfg := range map[string]nsredis.Config{
		"cluster URL":   {URL: "redis://127.0.0.1:1?cluster=true", Stream: "plain:events"},
		"ClusterClient": {Client: rdb, Stream: "plain:events"},
	} {
		_, err := nsredis.New(context.Background(), cfg)
		if err == nil || !strings.Contains(err.Error(), `"plain:events" has no hash tag`) {
			t.Errorf("%s, Stream plain:events: %v; want it refused for its missing hash tag", name, err)
		}
	}
}
