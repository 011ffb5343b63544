package core_test

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/necrostack/necrostack/core"
)

type inner struct {
	A [3]int8 `json:"a"`
	B bool    `json:"b,omitempty"`
}

type plainPayload struct {
	Name   string  `json:"name"`
	Third  float64 `json:"third"`
	Big    uint64  `json:"big"`
	Small  float32 `json:"small"`
	Quoted int     `json:"quoted,string"`
	Empty  string  `json:"empty,omitempty"`
	Inner  inner   `json:"inner"`
}

type withHidden struct {
	Shown  string `json:"shown"`
	hidden string
}

type Base struct {
	Ritual int    `json:"ritual"`
	Seeker string `json:"seeker"`
}

type embedding struct {
	Base
	Spirit string `json:"spirit"`
}

type clashing struct {
	Base
	Seeker string `json:"SEEKER"` // same name as Base.Seeker, ignoring case
}

type withSkipped struct {
	Shown   string `json:"shown"`
	Skipped string `json:"-"`
}

// decodeBoth returns the payload of e as T, read from the event itself and
// from its wire form (which carries no Go value).
func decodeBoth[T any](t *testing.T, e core.Event) (direct, viaWire T) {
	t.Helper()
	direct, err := core.PayloadAs[T](e)
	if err != nil {
		t.Fatal(err)
	}
	wire, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	back, err := core.DecodeEvent(wire)
	if err != nil {
		t.Fatal(err)
	}
	viaWire, err = core.PayloadAs[T](back)
	if err != nil {
		t.Fatal(err)
	}
	return direct, viaWire
}

// Whatever shortcut an in-process event takes, its payload decodes to what the
// same event decodes to after a trip through its wire form.
func TestPayloadSameInProcessAndOverTheWire(t *testing.T) {
	t.Parallel()
	k := core.NewKind[plainPayload]("PLAIN")
	values := []plainPayload{
		{Name: "Banquo <&> ünïcödé", Third: 1.0 / 3, Big: math.MaxUint64, Small: 0.1, Quoted: -42, Inner: inner{A: [3]int8{1, -2, 3}, B: true}},
		{Name: "", Third: math.SmallestNonzeroFloat64, Big: 0},
		{Name: "bad utf-8: \xff\xfe", Third: math.Copysign(0, -1)},
	}
	for _, v := range values {
		direct, viaWire := decodeBoth[plainPayload](t, k.MustNew(v))
		if direct != viaWire {
			t.Errorf("payload %+v:\n in process %+v\n over wire  %+v", v, direct, viaWire)
		}
		var viaDecode plainPayload
		if err := k.MustNew(v).DecodePayload(&viaDecode); err != nil || viaDecode != viaWire {
			t.Errorf("DecodePayload: %+v %v, want %+v", viaDecode, err, viaWire)
		}
	}
	d, w := decodeBoth[withHidden](t, core.MustEvent("HIDDEN", withHidden{Shown: "yes", hidden: "no"}))
	if d != w || d.hidden != "" {
		t.Errorf("unexported field: in process %+v, over wire %+v; want both without it", d, w)
	}
	de, we := decodeBoth[embedding](t, core.MustEvent("EMBEDDED", embedding{Base: Base{7, "Mina"}, Spirit: "Banquo"}))
	if de != we || de.Seeker != "Mina" || de.Ritual != 7 {
		t.Errorf("embedded struct: in process %+v, over wire %+v", de, we)
	}
	dc, wc := decodeBoth[clashing](t, core.MustEvent("CLASH", clashing{Base: Base{7, "Mina"}, Seeker: "Lucy"}))
	if dc != wc {
		t.Errorf("clashing names: in process %+v, over wire %+v", dc, wc)
	}
	ds, ws := decodeBoth[withSkipped](t, core.MustEvent("SKIPPED", withSkipped{Shown: "yes", Skipped: "no"}))
	if ds != ws || ds.Skipped != "" {
		t.Errorf(`json:"-" field: in process %+v, over wire %+v; want both without it`, ds, ws)
	}
}

func TestPayloadCopyIsIndependent(t *testing.T) {
	t.Parallel()
	k := core.NewKind[plainPayload]("PLAIN")
	e := k.MustNew(plainPayload{Name: "Banquo"})
	v, _ := k.Decode(e)
	v.Name = "Macbeth"
	again, _ := k.Decode(e)
	if again.Name != "Banquo" {
		t.Errorf("changing a decoded payload changed the event: %q", again.Name)
	}
}

type withNumber struct {
	N json.Number `json:"n"`
}

type zeroish struct{ V int }

func (z zeroish) IsZero() bool { return z.V < 10 }

type withOmitZero struct {
	Z zeroish `json:"z,omitzero"`
}

// The shortcut never answers differently from JSON: not for an interface
// type, not into a filled target, not for types JSON treats specially.
func TestPayloadShortcutLimits(t *testing.T) {
	t.Parallel()
	e := core.MustEvent("PLAIN", plainPayload{Name: "Banquo", Big: 1})
	if v, err := core.PayloadAs[any](e); err != nil {
		t.Fatal(err)
	} else if _, ok := v.(map[string]any); !ok {
		t.Errorf("PayloadAs[any] = %T, want map[string]any as JSON gives", v)
	}
	filled := plainPayload{Empty: "kept", Name: "Macbeth"}
	if err := e.DecodePayload(&filled); err != nil {
		t.Fatal(err)
	}
	if filled.Empty != "kept" || filled.Name != "Banquo" {
		t.Errorf("DecodePayload into a filled value = %+v, want json.Unmarshal's merge", filled)
	}
	dn, wn := decodeBoth[withNumber](t, core.MustEvent("NUM", withNumber{}))
	if dn != wn {
		t.Errorf("json.Number: in process %+v, over wire %+v", dn, wn)
	}
	dz, wz := decodeBoth[withOmitZero](t, core.MustEvent("OZ", withOmitZero{Z: zeroish{3}}))
	if dz != wz {
		t.Errorf("omitzero: in process %+v, over wire %+v", dz, wz)
	}
}

func TestPayloadStableThroughEncodingJSON(t *testing.T) {
	t.Parallel()
	// encoding/json escapes <, > and & in what a Marshaler returns; the
	// payload must survive that byte for byte.
	e := core.MustEvent("A", json.RawMessage(`{"q":"<who> & </who>","s":"\u2028"}`))
	wire, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	back, err := core.DecodeEvent(wire)
	if err != nil {
		t.Fatal(err)
	}
	if !back.Equal(e) {
		t.Errorf("round trip through json.Marshal:\n got  %s\n want %s", back.Payload(), e.Payload())
	}
	var m map[string]string
	if err := back.DecodePayload(&m); err != nil || m["q"] != "<who> & </who>" {
		t.Errorf("decoded payload: %v %v", m, err)
	}
}
