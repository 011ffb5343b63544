package redisenv

import (
	"slices"
	"strings"
	"testing"
)

func TestParseLdd(t *testing.T) {
	t.Parallel()
	out := `	linux-vdso.so.1 (0x00007ffd)
	libssl.so.3 => /lib/x86_64-linux-gnu/libssl.so.3 (0x00007f3e)
	libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f3e)
	/lib64/ld-linux-x86-64.so.2 (0x00007f3e)
`
	got, err := parseLdd(strings.NewReader(out), "redis-server")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/lib/x86_64-linux-gnu/libssl.so.3", "/lib/x86_64-linux-gnu/libc.so.6", "/lib64/ld-linux-x86-64.so.2"}
	if !slices.Equal(got, want) {
		t.Errorf("parseLdd: got %q, want %q", got, want)
	}
	if _, err := parseLdd(strings.NewReader("\tlibfoo.so.1 => not found\n"), "redis-server"); err == nil {
		t.Error("parseLdd with a missing library: got no error")
	}
}
