package organs_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"testing/fstest"
	"time"

	"github.com/necrostack/necrostack/apps/etl/organs"
	"github.com/necrostack/necrostack/backends/memory"
	"github.com/necrostack/necrostack/core"
)

// The whole chain on the in-memory backend, as a program runs it. The
// Extractor reads from an fs.FS here so the example needs no file on disk.
func Example() {
	files := fstest.MapFS{"tiny.csv": {Data: []byte(`date,location,spirit,sightings,intensity
2024-10-31,Crypt,Banshee,3,9.5
2024-11-01,Crypt,Wraith,1,4.5
2024-11-02,Belfry,Banshee,2,6
2024-11-03,Belfry,,1,2
`)}}
	chain := []core.Organ{
		organs.Extractor{FS: files},
		organs.Cleaner{},
		organs.Transformer{},
		&organs.Reporter{Out: os.Stdout},
	}
	backend := memory.New(memory.Config{})
	defer backend.Close()
	spine, err := core.NewSpine(backend, chain, core.Config{
		PullTimeout: 10 * time.Millisecond,
		Logger:      slog.New(slog.NewJSONHandler(io.Discard, nil)),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	seed, _ := organs.ETLStart.New(organs.Job{Path: "tiny.csv"})
	if err := spine.Enqueue(ctx, seed); err != nil {
		fmt.Println(err)
		return
	}
	if err := spine.RunUntilIdle(ctx); err != nil {
		fmt.Println(err)
		return
	}
	st := spine.Stats()
	fmt.Printf("\n%d events, %d emitted, %d dead letters\n", st.Pulled, st.Emitted, len(backend.DeadLetters()))
	// Output:
	// Haunting report: tiny.csv
	// 4 rows read: 3 kept, 1 dropped
	// Dates: 2024-10-31 to 2024-11-02
	//
	// LOCATION  ROWS  SIGHTINGS  MEAN INTENSITY  MAX INTENSITY  TOP SPIRIT
	// Belfry       1          2            6.00           6.00  Banshee
	// Crypt        2          4            7.00           9.50  Banshee
	// --------------------------------------------------------------------
	// TOTAL        3          6            6.67           9.50  Banshee
	//
	// Dropped rows:
	// LINE  REASON         DETAIL
	//    5  missing_field  spirit is blank
	// Dropped per reason: missing_field 1
	//
	// 4 events, 3 emitted, 0 dead letters
}
