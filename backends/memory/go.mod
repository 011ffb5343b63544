module github.com/necrostack/necrostack/backends/memory

go 1.26.0

require (
	github.com/necrostack/necrostack/core v0.1.0
	go.uber.org/goleak v1.3.0
)

require github.com/google/uuid v1.6.0 // indirect

replace github.com/necrostack/necrostack/core => ../../core
