package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/necrostack/necrostack/worker"
	"github.com/necrostack/necrostack/worker/workertest"
)

// The README's worker, run in this process: two orders in, one shipped,
// the one without an amount dead-lettered, and a run with a dead letter
// still exits 0 (the app has no verdict of its own).
func TestOrders(t *testing.T) {
	input := filepath.Join(t.TempDir(), "orders.jsonl")
	err := os.WriteFile(input, []byte(`{"event_type":"ORDER_PLACED","payload":{"id":"o-1","amount":30}}
{"event_type":"ORDER_PLACED","payload":{"id":"o-2"}}
`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr workertest.Buffer
	code := worker.Run(context.Background(), orders(), []string{"-mode", "run", "-input", input}, func(string) string { return "" }, &stdout, &stderr)
	if code != worker.ExitOK {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr.String())
	}
	if got := stdout.String(); got != "shipped o-1\n" {
		t.Errorf("stdout %q, want o-1 shipped alone", got)
	}
	if !strings.Contains(stderr.String(), "an order needs an amount") {
		t.Errorf("the order without an amount was not dead-lettered:\n%s", stderr.String())
	}
}
