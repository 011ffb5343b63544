package organs

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/necrostack/necrostack/core"
)

func TestTransformer(t *testing.T) {
	t.Parallel()
	dropped := []Rejection{{Line: 4, Reason: ReasonBadDate, Detail: "d"}}
	clean := CleanData{
		Source: "small.csv",
		Read:   6,
		Rows: []Sighting{
			{Line: 2, Date: "2024-10-31", Location: "Crypt", Spirit: "Banshee", Sightings: 3, Intensity: 9.5},
			{Line: 3, Date: "2024-11-01", Location: "Crypt", Spirit: "Wraith", Sightings: 1, Intensity: 4.5},
			{Line: 5, Date: "2024-11-02", Location: "Belfry", Spirit: "Banshee", Sightings: 2, Intensity: 6},
			{Line: 6, Date: "2024-03-01", Location: "Crypt", Spirit: "Wraith", Sightings: 4, Intensity: 2.5},
			{Line: 7, Date: "2024-12-25", Location: "Belfry", Spirit: "Ghoul", Sightings: 2, Intensity: 1},
		},
		Dropped:         dropped,
		DroppedByReason: map[string]int{ReasonBadDate: 1},
	}
	out, err := Transformer{}.Handle(context.Background(), mustNew(t, DataCleaned, clean))
	if err != nil {
		t.Fatal(err)
	}
	got, err := DataTransformed.Decode(out[0])
	if err != nil {
		t.Fatal(err)
	}
	want := Report{
		Source:          "small.csv",
		Read:            6,
		Dropped:         dropped,
		DroppedByReason: map[string]int{ReasonBadDate: 1},
		From:            "2024-03-01",
		To:              "2024-12-25",
		Locations: []LocationStats{
			// Banshee and Ghoul tie at 2: the name that sorts first wins.
			{Location: "Belfry", Stats: Stats{Rows: 2, Sightings: 4, MeanIntensity: 3.5, MaxIntensity: 6, TopSpirit: "Banshee"}},
			{Location: "Crypt", Stats: Stats{Rows: 3, Sightings: 8, MeanIntensity: 5.5, MaxIntensity: 9.5, TopSpirit: "Wraith"}},
		},
		Total: Stats{Rows: 5, Sightings: 12, MeanIntensity: 4.7, MaxIntensity: 9.5, TopSpirit: "Banshee"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("report:\n got  %+v\n want %+v", got, want)
	}
}

func TestTransformerNoRows(t *testing.T) {
	t.Parallel()
	clean := CleanData{Source: "empty.csv", Read: 1, DroppedByReason: map[string]int{ReasonMissing: 1}}
	_, err := Transformer{}.Handle(context.Background(), mustNew(t, DataCleaned, clean))
	if !errors.Is(err, ErrNoValidRows) || !errors.Is(err, core.ErrPermanent) {
		t.Errorf("got %v, want a permanent ErrNoValidRows", err)
	}
}
