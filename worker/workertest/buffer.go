package workertest

import (
	"bytes"
	"sync"
)

// Buffer is an io.Writer safe for concurrent use: a test reads what was
// written so far with String while a program, in another goroutine or a
// child process, writes to it. The zero value is an empty Buffer.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p; it never fails.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
