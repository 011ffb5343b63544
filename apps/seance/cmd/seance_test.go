package main

import (
	"strings"
	"testing"
)

func TestAudit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		n       int
		omens   map[int]int
		wantErr string // "" for none
	}{
		{"complete", 3, map[int]int{1: 1, 2: 1, 3: 1}, ""},
		{"missing", 3, map[int]int{1: 1}, "no omen for rituals [2 3]"},
		{"repeated", 2, map[int]int{1: 1, 2: 2}, "more than one omen for rituals [2]"},
		{"stray", 1, map[int]int{1: 1, 7: 1, 0: 1}, "omens for unknown rituals [0 7]"},
		{"nothing", 1, nil, "no omen for rituals [1]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := audit(tt.n, tt.omens)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("audit(%d, %v) = %q, want nil", tt.n, tt.omens, err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("audit(%d, %v) = %v, want an error containing %q", tt.n, tt.omens, err, tt.wantErr)
			}
		})
	}
}
