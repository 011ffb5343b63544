package organs_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine behind, such as
// a Spine that outlived its run.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
