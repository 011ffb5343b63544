package organs

import "hash/fnv"

var spirits = []Spirit{
	{Name: "Banquo", Epithet: "the Uninvited Guest"},
	{Name: "Eleanor Vane", Epithet: "Keeper of the Drowned Bell"},
	{Name: "Brother Mordecai", Epithet: "the Lantern-Bearer"},
	{Name: "Old Tom Gallow", Epithet: "Ferryman of the Low Fog"},
	{Name: "The Grey Abbess", Epithet: "who counts the candles"},
	{Name: "Mistress Hollow", Epithet: "Weaver of Unfinished Letters"},
	{Name: "The Nameless Child", Epithet: "who hums beneath the stairs"},
	{Name: "Captain Ashgrove", Epithet: "lost with the Meridian"},
}

var answers = []string{
	"Yes, but not in the way you hope.",
	"The door you knock on is already open.",
	"No. Ask again when the river freezes.",
	"It was decided long before you asked.",
	"What you lost is waiting where you left it.",
	"Only if you stop looking for it.",
	"The answer is written on the back of an old letter.",
	"Soon. Sooner than you are ready for.",
	"Ask the one who taught you to be afraid of it.",
}

var omens = []string{
	"A raven lands on the windowsill and does not leave.",
	"The candle flame bends toward the door.",
	"Frost spreads across the mirror in the shape of a key.",
	"A clock in an empty room strikes thirteen.",
	"Spilled salt settles into a perfect circle.",
	"Somewhere below, a piano plays a single note.",
	"The cards fall face down, all but the Moon.",
	"Wet footprints lead away from the table.",
	"Every dog in the street begins to howl at once.",
	"The planchette drifts to GOODBYE on its own.",
}

// pick chooses an index below n from parts, the same one every time. A zero
// byte separates the parts so that ("ab", "c") and ("a", "bc") differ.
func pick(n int, parts ...string) int {
	h := fnv.New64a()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return int(h.Sum64() % uint64(n))
}
