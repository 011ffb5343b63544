package redis

import (
	"strconv"
	"strings"
)

// Partitions split one logical stream into P streams, each in a hash slot
// of its own, so that on Redis Cluster they spread over the nodes. These
// are the rules every producer follows, in any language:
//
//   - An event's partition is PartitionOf(key, P): the FNV-1a 32-bit hash
//     of the key's UTF-8 bytes, mixed by MurmurHash3's 32-bit finalizer
//     (fmix32), modulo P. Without the finalizer, keys that differ in their
//     last bytes only (acct-1, acct-2, …) would share a few partitions: FNV
//     spreads a last byte into neither its low bits nor its high ones. An
//     event without a key goes to any partition (the Backend spreads them
//     in turn).
//   - Partition i's stream is PartitionStream(stream, i, P): for P = 1 the
//     stream itself; above, "{stream:p<i>~<n>}", where n is the smallest
//     number from 0 up for which the key's hash slot (CRC16 of the tag, as
//     Redis computes it, modulo 16,384) lies in the i-th of P equal ranges
//     of the 16,384 slots. The partitions' slots are so spread evenly over
//     the slots, and so over the nodes that hold equal ranges of them. The
//     braces make the whole name the hash tag, so the partition's
//     dead-letter stream and commit records (stream+":dlq", …) share its
//     slot.
//
// Changing P moves keys between partitions: it is a migration, not a
// setting to turn while events are in flight.

// MaxPartitions bounds P.
const MaxPartitions = 1024

// PartitionOf returns the partition of an event key among p partitions:
// fmix32(FNV-1a-32(key)) mod p.
func PartitionOf(key string, p int) int {
	if p <= 1 {
		return 0
	}
	h := uint32(2166136261)
	for i := 0; i < len(key); i++ {
		h ^= uint32(key[i])
		h *= 16777619
	}
	// MurmurHash3's fmix32.
	h ^= h >> 16
	h *= 0x85ebca6b
	h ^= h >> 13
	h *= 0xc2b2ae35
	h ^= h >> 16
	return int(h % uint32(p))
}

// PartitionOfStream parses a partition's stream key (PartitionStream with
// p > 1): the stream it is a partition of, and its number.
func PartitionOfStream(key string) (stream string, i int, ok bool) {
	inner, ok := strings.CutPrefix(key, "{")
	if ok {
		inner, ok = strings.CutSuffix(inner, "}")
	}
	if !ok {
		return "", 0, false
	}
	at := strings.LastIndex(inner, ":p")
	if at < 0 {
		return "", 0, false
	}
	num, search, found := strings.Cut(inner[at+2:], "~")
	i, err := strconv.Atoi(num)
	if _, err2 := strconv.Atoi(search); !found || err != nil || err2 != nil || i < 0 || at == 0 {
		return "", 0, false
	}
	return inner[:at], i, true
}

// PartitionStream returns the stream key of partition i of p partitions of
// stream (see the rules above). For p > 1, stream should hold no hash tag
// of its own, which the partition's braces would hide.
func PartitionStream(stream string, i, p int) string {
	if p <= 1 {
		return stream
	}
	lo, hi := i*slots/p, (i+1)*slots/p
	base := stream + ":p" + strconv.Itoa(i) + "~"
	for n := 0; ; n++ {
		tag := base + strconv.Itoa(n)
		if s := int(crc16(tag) % slots); s >= lo && s < hi {
			return "{" + tag + "}"
		}
	}
}

// slots is the number of hash slots of Redis Cluster.
const slots = 16384

// crc16 is CRC-16/XMODEM (polynomial 0x1021, initial 0), the checksum of
// Redis Cluster's key slots, of s (a key's hash tag).
func crc16(s string) uint16 {
	var crc uint16
	for i := 0; i < len(s); i++ {
		crc ^= uint16(s[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}
