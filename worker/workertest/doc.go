// Package workertest runs NecroStack programs the way their tests need: a
// main package built once per test binary, started as a child process whose
// stdout and stderr are captured while it runs, stopped with SIGTERM or
// killed with SIGKILL, and never left running after the test; and a Buffer
// that a test reads while a program writes it, in a goroutine or a child
// process; ReadSpans reads the spans a program's -traces wrote.
//
// # Building
//
// Build compiles a main package with the go command, in the package's own
// folder, so that its module (or the workspace around it) decides the
// dependencies, as for a user who builds it there. Each package is built
// once per test binary; RemoveBuilds, called from TestMain, deletes the
// builds:
//
//	func TestMain(m *testing.M) {
//		code := m.Run()
//		workertest.RemoveBuilds()
//		os.Exit(code)
//	}
//
// # Processes
//
// Start starts a command and returns its Proc; Run runs one to completion.
// A Proc still running when its test ends is killed, and the tail of its
// output is logged if the test failed. On Linux a child also dies with the
// test binary, even one killed by go test -timeout.
package workertest
