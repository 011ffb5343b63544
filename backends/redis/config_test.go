package redis_test

import (
	"testing"

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
