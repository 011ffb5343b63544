package core_test

import (
	"strings"
	"testing"

	"github.com/necrostack/necrostack/core"
)

type spirit struct {
	Name  string `json:"name"`
	Level int    `json:"level"`
}

func TestKind(t *testing.T) {
	t.Parallel()
	k := core.NewKind[spirit]("SPIRIT_APPEARED")
	e, err := k.New(spirit{"Banquo", 3})
	if err != nil {
		t.Fatal(err)
	}
	if e.Type() != "SPIRIT_APPEARED" || k.Type() != "SPIRIT_APPEARED" {
		t.Errorf("types: event %s, kind %s", e.Type(), k.Type())
	}
	got, err := k.Decode(e)
	if err != nil || got != (spirit{"Banquo", 3}) {
		t.Errorf("Decode = %+v, %v", got, err)
	}
	if _, err := k.Decode(core.MustEvent("OTHER", nil)); err == nil || !strings.Contains(err.Error(), "has type OTHER") {
		t.Errorf("Decode of another type: got %v", err)
	}
	bad := core.MustEvent("SPIRIT_APPEARED", map[string]string{"level": "high"})
	if _, err := k.Decode(bad); err == nil {
		t.Error("Decode of a mistyped payload succeeded")
	}
	if p, err := core.PayloadAs[map[string]any](e); err != nil || p["name"] != "Banquo" {
		t.Errorf("PayloadAs = %v, %v", p, err)
	}
	defer func() {
		if recover() == nil {
			t.Error("NewKind with an invalid type did not panic")
		}
	}()
	core.NewKind[spirit]("bad type")
}
