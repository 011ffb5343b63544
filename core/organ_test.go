package core_test

import (
	"context"
	"testing"

	"github.com/necrostack/necrostack/core"
)

type Summoner struct{}

func (Summoner) Listens() []string { return []string{"SUMMON_RITUAL"} }
func (Summoner) Handle(context.Context, core.Event) ([]core.Event, error) {
	return nil, nil
}

type named struct{ Summoner }

func (named) Name() string { return "CustomName" }

func TestOrganName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		organ core.Organ
		want  string
	}{
		{Summoner{}, "Summoner"},
		{&Summoner{}, "Summoner"},
		{named{}, "CustomName"},
		{core.OrganFunc("Scribe", []string{"A"}, nil), "Scribe"},
	}
	for _, tt := range tests {
		if got := core.OrganName(tt.organ); got != tt.want {
			t.Errorf("OrganName(%T) = %q, want %q", tt.organ, got, tt.want)
		}
	}
}
