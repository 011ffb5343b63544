// Package jsonfast is core's second JSON implementation: fast paths for the
// payloads of events that agree with encoding/json byte for byte, and give
// up, for the caller to use encoding/json, wherever they might not.
//
// A Codec encodes and decodes a flat struct type (one whose fields are all
// booleans, strings, integers or floats, named by simple JSON names, with no
// tag option but omitempty) field by field, instead of by encoding/json's
// reflection walk. It writes exactly what json.Marshal writes, and reads
// what json.Unmarshal reads into a zero value when the JSON is the common
// case: keys that match a field name exactly, strings without escapes,
// numbers that fit. FuzzFlatEncode and FuzzFlatDecode check both against
// encoding/json; BenchmarkEncode and BenchmarkDecode measure the gain, which
// core's package doc states.
//
// RoundTrips tells which struct types an event may keep as Go values,
// because their JSON decodes back to an equal value, and ScanCanonical
// checks in one pass that a payload read off the wire is valid JSON in the
// canonical form core keeps payloads in (FuzzCanonicalValidJSON checks it
// against encoding/json; BenchmarkScanCanonical measures it).
// ScanPlainString does the same for a string core keeps as it is read (an
// event's key, its headers' names and values): one that json.Marshal, or
// AppendString, writes without an escape (FuzzPlainString checks it).
//
// ID holds an event's id by the address of its text, so that an Event stays
// small (see core's TestEventSize).
//
// It is core's one package with unsafe: memory.go (the codec's access to a
// struct's fields) and id.go.
package jsonfast
