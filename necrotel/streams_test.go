package necrotel_test

import (
	"context"
	"errors"
	"testing"

	"github.com/necrostack/necrostack/necrotel"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// The stream gauges report what the state function returns at each
// collection, per group; a failing state reports none.
func TestObserveStream(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())
	tel, err := necrotel.New(necrotel.Config{Stream: "rites", MeterProvider: mp})
	if err != nil {
		t.Fatal(err)
	}
	var fail error
	state := necrotel.StreamState{Length: 40, DeadLetters: 3, Groups: []necrotel.GroupState{{Name: "mediums", Lag: 7, Pending: 2}, {Name: "audit", Lag: 0, Pending: 0}}}
	unregister, err := tel.ObserveStream(func(context.Context) (necrotel.StreamState, error) { return state, fail })
	if err != nil {
		t.Fatal(err)
	}
	gauges := func() map[string]map[string]int64 {
		var rm metricdata.ResourceMetrics
		_ = reader.Collect(context.Background(), &rm) // a failing callback is reported, and its gauges left out
		got := map[string]map[string]int64{}
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				g, ok := m.Data.(metricdata.Gauge[int64])
				if !ok {
					continue
				}
				for _, p := range g.DataPoints {
					if got[m.Name] == nil {
						got[m.Name] = map[string]int64{}
					}
					group, _ := p.Attributes.Value(attribute.Key("messaging.consumer.group.name"))
					if dest, _ := p.Attributes.Value(attribute.Key("messaging.destination.name")); dest.AsString() != "rites" {
						t.Errorf("%s: destination %q, want rites", m.Name, dest.AsString())
					}
					got[m.Name][group.AsString()] = p.Value
				}
			}
		}
		return got
	}
	got := gauges()
	want := map[string]map[string]int64{
		necrotel.MetricStreamLength:     {"": 40},
		necrotel.MetricDeadLetterLength: {"": 3},
		necrotel.MetricGroupLag:         {"mediums": 7, "audit": 0},
		necrotel.MetricGroupPending:     {"mediums": 2, "audit": 0},
	}
	for name, w := range want {
		for group, v := range w {
			if got[name][group] != v {
				t.Errorf("%s{group=%q} = %d, want %d (all: %v)", name, group, got[name][group], v, got)
			}
		}
	}
	fail = errors.New("redis: connection refused")
	if got := gauges(); len(got) != 0 {
		t.Errorf("with the state failing: %v, want no gauges", got)
	}
	if err := unregister(); err != nil {
		t.Fatal(err)
	}
	fail = nil
	if got := gauges(); len(got) != 0 {
		t.Errorf("after unregister: %v, want no gauges", got)
	}
}
