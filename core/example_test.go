package core_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/necrostack/necrostack/core"
	"github.com/necrostack/necrostack/core/necrotest"
)

func ExampleBuild() {
	e, err := core.Build(core.EventInit{
		ID:        "0b6f1c9e-3d5a-4f7b-9c2e-8a1d4e6f7a8b",
		Timestamp: time.Date(2026, 10, 31, 23, 59, 59, 0, time.UTC),
		Type:      "SUMMON_RITUAL",
		Payload:   map[string]string{"question": "Who walks the hall?"},
	})
	if err != nil {
		panic(err)
	}
	wire, _ := e.MarshalJSON()
	fmt.Println(string(wire))
	// Output:
	// {"id":"0b6f1c9e-3d5a-4f7b-9c2e-8a1d4e6f7a8b","timestamp":"2026-10-31T23:59:59Z","event_type":"SUMMON_RITUAL","payload":{"question":"Who walks the hall?"}}
}

func ExampleDecodeEvent() {
	_, err := core.DecodeEvent([]byte(`{"id":"0b6f1c9e-3d5a-4f7b-9c2e-8a1d4e6f7a8b","timestamp":"2026-10-31T23:59:59Z","event_type":"summon"}`))
	fmt.Println(err)
	fmt.Println(errors.Is(err, core.ErrInvalidEvent))

	_, err = core.DecodeEvent([]byte(`{"id":"0b6f1c9e-3d5a-4f7b-9c2e-8a1d4e6f7a8b","timestamp":"2026-10-31T23:59:59Z","event_type":"A","colour":"grey"}`))
	fmt.Println(err)
	// Output:
	// invalid event: event_type: "summon" is not UPPER_SNAKE_CASE: must start with A-Z
	// true
	// invalid event: json: unknown field "colour"
}

type Question struct {
	Seeker string `json:"seeker"`
	Text   string `json:"text"`
}

var AskQuestion = core.NewKind[Question]("ASK_QUESTION")

func ExampleKind() {
	e, err := AskQuestion.New(Question{Seeker: "Ada", Text: "Will it rain?"})
	if err != nil {
		panic(err)
	}
	q, err := AskQuestion.Decode(e)
	if err != nil {
		panic(err)
	}
	fmt.Println(e.Type(), q.Seeker, q.Text)
	// Output: ASK_QUESTION Ada Will it rain?
}

// Organs are ordinary functions or types; here two functions make a chain,
// run to quiescence by the test harness.
func ExampleOrganFunc() {
	echo := core.OrganFunc("Echo", []string{"ASK_QUESTION"}, func(ctx context.Context, e core.Event) ([]core.Event, error) {
		q, err := AskQuestion.Decode(e)
		if err != nil {
			return nil, core.Permanent(err)
		}
		return core.Emit(core.MustEvent("ANSWER_GIVEN", map[string]string{"answer": "You asked: " + q.Text})), nil
	})
	show := core.OrganFunc("Print", []string{"ANSWER_GIVEN"}, func(ctx context.Context, e core.Event) ([]core.Event, error) {
		a, _ := core.PayloadAs[map[string]string](e)
		fmt.Println(a["answer"])
		return nil, nil
	})
	tr, err := necrotest.RunWith(context.Background(), necrotest.Config{}, []core.Organ{echo, show},
		AskQuestion.MustNew(Question{Seeker: "Ada", Text: "Will it rain?"}))
	if err != nil {
		panic(err)
	}
	fmt.Println(tr.Types())
	// Output:
	// You asked: Will it rain?
	// [ASK_QUESTION ANSWER_GIVEN]
}

func ExamplePermanent() {
	err := core.Permanent(errors.New("no such spirit"))
	fmt.Println(err, errors.Is(err, core.ErrPermanent))
	// Output: no such spirit true
}
