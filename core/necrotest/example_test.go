package necrotest_test

import (
	"context"
	"fmt"

	"github.com/necrostack/necrostack/core"
	"github.com/necrostack/necrostack/core/necrotest"
)

func ExampleRunWith() {
	summoner := core.OrganFunc("Summoner", []string{"SUMMON_RITUAL"}, func(_ context.Context, e core.Event) ([]core.Event, error) {
		return core.Emit(core.MustEvent("SPIRIT_APPEARED", map[string]string{"spirit": "Banquo"})), nil
	})
	scribe := core.OrganFunc("Scribe", []string{"SPIRIT_APPEARED"}, func(context.Context, core.Event) ([]core.Event, error) {
		return nil, nil
	})
	seed := core.MustEvent("SUMMON_RITUAL", nil)
	tr, err := necrotest.RunWith(context.Background(), necrotest.Config{}, []core.Organ{summoner, scribe}, seed)
	if err != nil {
		panic(err)
	}
	for _, r := range tr.Records {
		fmt.Println(r.Depth, r.Event.Type(), r.Organ, r.HandledBy)
	}
	// Output:
	// 0 SUMMON_RITUAL  [Summoner]
	// 1 SPIRIT_APPEARED Summoner [Scribe]
}
