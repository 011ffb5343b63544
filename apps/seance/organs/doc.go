// Package organs holds the séance: four organs that turn a summons into a
// printed omen, one stage each.
//
// # The chain
//
//	SUMMON_RITUAL    → Summoner → SPIRIT_APPEARED   (which spirit answers)
//	SPIRIT_APPEARED  → Medium   → ANSWER_GENERATED  (what the spirit says)
//	ANSWER_GENERATED → Oracle   → OMEN_REVEALED     (the omen that follows)
//	OMEN_REVEALED    → Scribe   → written to an io.Writer, nothing emitted
//
// Each payload embeds the one before it, so the whole ritual (its number, the
// seeker, the question, the séance it belongs to) travels to the end of the
// chain and no organ needs to look anything up.
//
// # Séances
//
// Ritual numbers start at 1 in every séance. When séances share a durable
// queue, such as a Redis stream that many workers read, each ritual carries
// its séance's id: the Scribe prints it in the ritual's header and counts
// omens per séance and number (Scribe.OmensOf), so every séance can be
// audited on its own (Scribe.Audit: each ritual exactly once).
// DescribeDeadLetter says which ritual, of which séance, a dead letter
// held.
//
// # Determinism
//
// Every choice is an FNV-1a hash of the ritual's content into a fixed list:
// the same seeker asking the same question always meets the same spirit and
// hears the same answer. Nothing depends on the clock, on randomness or on
// the séance id, so a séance can be replayed, tested and compared byte for
// byte.
//
// # Validation
//
// Organs validate what they decode. A bad payload (an empty question, say)
// is a core.Permanent error wrapping a *FieldError that names the field:
// retrying cannot fix it, so the Spine dead-letters the event at once.
//
// # Fault injection
//
// FailEvery wraps an organ so that it fails, with a retryable error, on
// every ritual whose number is a multiple of n: the Spine retries and then
// dead-letters those rituals for that organ, for tests and demos of dead
// letters and redrive.
package organs
