package core

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"

	"github.com/necrostack/necrostack/core/internal/jsonfast"
)

// setPayload sets the payload of e from p, as EventInit.Payload describes.
// A flat struct is kept, to be encoded when its JSON is wanted; another
// value is encoded now, and kept too if it decodes back to an equal value,
// so that PayloadAs and DecodePayload need not parse the JSON.
func (e *Event) setPayload(p any) error {
	if c := jsonfast.For(reflect.TypeOf(p)); c != nil {
		if c.Encodable(p) {
			// Encoded later, exactly as now: the value is immutable (the
			// interface holds its own copy, and strings are immutable).
			e.value = p
			return nil
		}
		// It would not read back the same (the value is not kept), or it is
		// a NaN or infinity (encoding/json says what is wrong).
		var buf [256]byte
		if b, ok := c.Encode(buf[:0], p); ok {
			e.payload = string(b)
			return nil
		}
	}
	s, err := marshalPayload(p)
	if err != nil {
		return err
	}
	e.payload = s
	if p != nil && jsonfast.RoundTrips(reflect.TypeOf(p)) && !strings.Contains(s, `\ufffd`) {
		// Invalid UTF-8 in a string is the one change JSON makes to such a
		// value; it shows as an escaped U+FFFD, and disqualifies the copy.
		e.value = p
	}
	return nil
}

// Payload returns a copy of the payload as a JSON object.
func (e Event) Payload() json.RawMessage {
	if c := e.flatCodec(); c != nil {
		b, _ := c.Encode(make([]byte, 0, c.Size()), e.value) // Build checked that it encodes, without loss
		return b
	}
	if e.payload == "" {
		return json.RawMessage("{}")
	}
	return json.RawMessage(e.payload)
}

// DecodePayload unmarshals the payload into v, like json.Unmarshal.
func (e Event) DecodePayload(v any) error {
	// The shortcuts work only into a zero value: json.Unmarshal would leave
	// the fields the payload lacks as they were.
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Pointer && !rv.IsNil() {
		if elem := rv.Elem(); elem.Kind() == reflect.Struct && elem.IsZero() {
			if e.value != nil && elem.Type() == reflect.TypeOf(e.value) {
				elem.Set(reflect.ValueOf(e.value))
				return nil
			}
			if c := jsonfast.For(elem.Type()); c != nil {
				if c.DecodeValue(rv, e.payloadText()) {
					return nil
				}
				elem.SetZero()
			}
		}
	}
	return e.unmarshalPayload(v)
}

// unmarshalPayload is DecodePayload by encoding/json alone.
func (e Event) unmarshalPayload(v any) error {
	if err := json.Unmarshal([]byte(e.payloadText()), v); err != nil {
		return fmt.Errorf("decode %s payload: %w", e.eventType, err)
	}
	return nil
}

// payloadText returns the payload's JSON object, encoding a flat value.
func (e Event) payloadText() string {
	if e.payload == "" && e.value != nil {
		var buf [256]byte
		return string(e.appendPayload(buf[:0]))
	}
	if e.payload == "" {
		return "{}"
	}
	return e.payload
}

// flatCodec returns the codec of e's payload value when the payload is
// not encoded yet, nil when it is.
func (e Event) flatCodec() *jsonfast.Codec {
	if e.payload != "" || e.value == nil {
		return nil
	}
	return jsonfast.For(reflect.TypeOf(e.value))
}

// appendPayload appends the payload's JSON object to b.
func (e Event) appendPayload(b []byte) []byte { return e.appendPayloadWith(b, e.flatCodec()) }

// appendPayloadWith is appendPayload with e's flatCodec, found already.
func (e Event) appendPayloadWith(b []byte, c *jsonfast.Codec) []byte {
	switch {
	case c != nil:
		// Build checked that the value encodes, without loss.
		b, _ = c.Encode(b, e.value)
		return b
	case e.payload == "":
		return append(b, "{}"...)
	default:
		return append(b, e.payload...)
	}
}

func marshalPayload(p any) (string, error) {
	if p == nil {
		return "{}", nil
	}
	var b []byte
	switch v := p.(type) {
	case json.RawMessage:
		b = v
	default:
		var err error
		b, err = json.Marshal(p)
		if err != nil {
			return "", invalid("payload", "cannot encode as JSON", err)
		}
		if string(b) == "null" {
			return "{}", nil
		}
		if len(b) == 0 || b[0] != '{' {
			return "", invalid("payload", "must be a JSON object, got "+jsonKind(b), nil)
		}
		return string(b), nil
	}
	return canonicalObject(b)
}

// canonicalObject validates that raw is one JSON object and compacts it.
func canonicalObject(raw []byte) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "{}", nil
	}
	if raw[0] != '{' {
		return "", invalid("payload", "must be a JSON object, got "+jsonKind(raw), nil)
	}
	var buf bytes.Buffer
	buf.Grow(len(raw))
	if err := json.Compact(&buf, raw); err != nil {
		return "", invalid("payload", "not valid JSON", err)
	}
	// encoding/json escapes these when it marshals; doing the same here makes
	// the payload read back from any encoder byte-identical to the original.
	if bytes.ContainsAny(buf.Bytes(), "<>&\u2028\u2029") {
		var esc bytes.Buffer
		json.HTMLEscape(&esc, buf.Bytes())
		return esc.String(), nil
	}
	return buf.String(), nil
}

func jsonKind(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return "nothing"
	}
	switch b[0] {
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	default:
		return "a number"
	}
}
