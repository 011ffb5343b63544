package jsonfast

import (
	"reflect"
	"unsafe"
)

// This file holds the package's every use of unsafe. A Codec reads and
// writes the fields of a struct at the offsets reflect gives for the codec's
// type; that is sound because the exported functions check that they are
// handed a value of that type (comparing typeIDs), and because a flat
// struct holds only booleans, numbers and strings, each read and written as
// what it is.

// typeID identifies the dynamic type of an interface value: its type word.
type typeID struct{ p unsafe.Pointer }

// typeIDOf returns the typeID of v's dynamic type: comparing two is a
// pointer comparison, cheaper than comparing reflect.Types.
func typeIDOf(v any) typeID { return typeID{(*[2]unsafe.Pointer)(unsafe.Pointer(&v))[0]} }

// addr is the address of a flat struct, or of one of its fields.
type addr struct{ p unsafe.Pointer }

// addrHeld returns the data word of v: the address of the value v holds if
// it is a flat struct (never pointer-shaped, so an interface holds a
// pointer to its own copy of it), the pointer itself if v holds a pointer.
func addrHeld(v *any) addr { return addr{(*[2]unsafe.Pointer)(unsafe.Pointer(v))[1]} }

// field returns the address of the field at offset off.
func (a addr) field(off uintptr) addr { return addr{unsafe.Add(a.p, off)} }

func (a addr) loadString() string   { return *(*string)(a.p) }
func (a addr) storeString(s string) { *(*string)(a.p) = s }
func (a addr) loadBool() bool       { return *(*bool)(a.p) }
func (a addr) storeBool(v bool)     { *(*bool)(a.p) = v }

// loadInt returns the signed integer of kind k at a.
func (a addr) loadInt(k reflect.Kind) int64 {
	switch k {
	case reflect.Int8:
		return int64(*(*int8)(a.p))
	case reflect.Int16:
		return int64(*(*int16)(a.p))
	case reflect.Int32:
		return int64(*(*int32)(a.p))
	case reflect.Int64:
		return *(*int64)(a.p)
	}
	return int64(*(*int)(a.p))
}

// storeInt stores n, which fits, as the signed integer of kind k at a.
func (a addr) storeInt(k reflect.Kind, n int64) {
	switch k {
	case reflect.Int8:
		*(*int8)(a.p) = int8(n)
	case reflect.Int16:
		*(*int16)(a.p) = int16(n)
	case reflect.Int32:
		*(*int32)(a.p) = int32(n)
	case reflect.Int64:
		*(*int64)(a.p) = n
	default:
		*(*int)(a.p) = int(n)
	}
}

// loadUint returns the unsigned integer of kind k at a.
func (a addr) loadUint(k reflect.Kind) uint64 {
	switch k {
	case reflect.Uint8:
		return uint64(*(*uint8)(a.p))
	case reflect.Uint16:
		return uint64(*(*uint16)(a.p))
	case reflect.Uint32:
		return uint64(*(*uint32)(a.p))
	case reflect.Uint64:
		return *(*uint64)(a.p)
	}
	return uint64(*(*uint)(a.p))
}

// storeUint stores n, which fits, as the unsigned integer of kind k at a.
func (a addr) storeUint(k reflect.Kind, n uint64) {
	switch k {
	case reflect.Uint8:
		*(*uint8)(a.p) = uint8(n)
	case reflect.Uint16:
		*(*uint16)(a.p) = uint16(n)
	case reflect.Uint32:
		*(*uint32)(a.p) = uint32(n)
	case reflect.Uint64:
		*(*uint64)(a.p) = n
	default:
		*(*uint)(a.p) = uint(n)
	}
}

// loadFloat returns the float of kind k at a, and its size in bits.
func (a addr) loadFloat(k reflect.Kind) (float64, int) {
	if k == reflect.Float32 {
		return float64(*(*float32)(a.p)), 32
	}
	return *(*float64)(a.p), 64
}

// storeFloat stores f, which fits, as the float of kind k at a.
func (a addr) storeFloat(k reflect.Kind, f float64) {
	if k == reflect.Float32 {
		*(*float32)(a.p) = float32(f)
		return
	}
	*(*float64)(a.p) = f
}
