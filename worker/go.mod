module github.com/necrostack/necrostack/worker

go 1.26.0
