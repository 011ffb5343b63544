package workertest_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/necrostack/necrostack/worker/workertest"
)

// Writers and readers may share a Buffer (go test -race checks it), and
// every write lands whole.
func TestBuffer(t *testing.T) {
	t.Parallel()
	var b workertest.Buffer
	const writers, lines = 4, 100
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range lines {
				fmt.Fprintf(&b, "writer %d line %d\n", w, i)
				_ = b.String()
			}
		})
	}
	wg.Wait()
	got := b.String()
	if n := strings.Count(got, "\n"); n != writers*lines {
		t.Fatalf("%d lines, want %d", n, writers*lines)
	}
	for w := range writers {
		for i := range lines {
			if line := fmt.Sprintf("writer %d line %d\n", w, i); !strings.Contains(got, line) {
				t.Errorf("missing %q", line)
			}
		}
	}
}
