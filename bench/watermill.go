package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill-redisstream/pkg/redisstream"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"
	goredis "github.com/redis/go-redis/v9"
)

// watermillChain runs the same chain as message.Router handlers: one per
// stage, each unmarshalling the Ritual from JSON, adding its field and
// returning the next message, which the router publishes to the next topic
// before it acks the input. No middleware: this is Watermill at its leanest.
//
// On memory the pub/sub is a GoChannel. The router handles each message it
// receives in its own goroutine and GoChannel hands out the next message
// without waiting for the previous one's ack, so the work in flight is
// bounded by the benchmark's window only; a GoChannel subscription receives
// every message of its topic (there are no consumer groups), so -concurrency
// must be 1 there.
//
// On Redis it is watermill-redisstream with a consumer group per stream (one
// stream per topic). A subscription reads and acks one message at a time, so
// -concurrency N gives each stage N handlers, each with its own subscriber
// (consumer) and client; one publisher is shared.
type watermillChain struct {
	cfg     Config
	rec     *recorder
	router  *message.Router
	pub     message.Publisher // memory: the GoChannel
	closers []func() error

	rdb    goredis.UniversalClient // Redis only: seeds and clean-up
	topics [stages]string

	cancel context.CancelFunc
	runErr chan error
}

const watermillGroup = "necrobench"

func newWatermill(ctx context.Context, cfg Config, rec *recorder) (*watermillChain, error) {
	w := &watermillChain{cfg: cfg, rec: rec}
	for i, t := range [stages]string{typeSummon, typeSpirit, typeAnswer, typeOmen} {
		w.topics[i] = t
		if cfg.Backend == backendRedis {
			w.topics[i] = cfg.Stream + ":" + t
		}
	}
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: 10 * time.Second}, watermill.NopLogger{})
	if err != nil {
		return nil, err
	}
	w.router = router
	handlers := [stages]message.HandlerFunc{
		w.stage(stageSummoner, summon), w.stage(stageMedium, channel), w.stage(stageOracle, reveal), w.scribe,
	}

	switch cfg.Backend {
	case backendMemory:
		gc := gochannel.NewGoChannel(gochannel.Config{}, watermill.NopLogger{})
		w.pub, w.closers = gc, append(w.closers, gc.Close)
		for i, h := range handlers {
			w.add(i, 0, gc, gc, h)
		}
	case backendRedis:
		if err := requireFreshKeys(ctx, cfg, w.topics[:]...); err != nil {
			return nil, err
		}
		w.rdb, err = newRedisClient(cfg.RedisURL)
		if err != nil {
			return nil, err
		}
		w.closers = append(w.closers, w.rdb.Close)
		pubClient, err := newRedisClient(cfg.RedisURL)
		if err != nil {
			return nil, w.closeAll(err)
		}
		pub, err := redisstream.NewPublisher(redisstream.PublisherConfig{Client: pubClient}, watermill.NopLogger{})
		if err != nil {
			_ = pubClient.Close()
			return nil, w.closeAll(err)
		}
		w.closers = append(w.closers, pub.Close) // closes pubClient
		for i, h := range handlers {
			for c := range cfg.Concurrency {
				client, err := newRedisClient(cfg.RedisURL)
				if err != nil {
					return nil, w.closeAll(err)
				}
				sub, err := redisstream.NewSubscriber(redisstream.SubscriberConfig{
					Client:        client,
					ConsumerGroup: watermillGroup,
					Consumer:      fmt.Sprintf("consumer-%d", c),
					OldestId:      "0",
					// Block at most BlockTime (100ms) per read, so that
					// Close is prompt.
					DisableIndefiniteInitialBlock: true,
				}, watermill.NopLogger{})
				if err != nil {
					_ = client.Close()
					return nil, w.closeAll(err)
				}
				w.closers = append(w.closers, sub.Close) // closes client
				w.add(i, c, sub, pub, h)
			}
		}
	}
	return w, nil
}

var stageNames = [stages]string{"Summoner", "Medium", "Oracle", "Scribe"}

func (w *watermillChain) add(stage, n int, sub message.Subscriber, pub message.Publisher, h message.HandlerFunc) {
	name := fmt.Sprintf("%s-%d", stageNames[stage], n)
	if stage == stageScribe {
		w.router.AddConsumerHandler(name, w.topics[stage], sub, func(m *message.Message) error {
			_, err := h(m)
			return err
		})
		return
	}
	w.router.AddHandler(name, w.topics[stage], sub, w.topics[stage+1], pub, h)
}

func (w *watermillChain) stage(stage int, add func(*Ritual)) message.HandlerFunc {
	return func(m *message.Message) ([]*message.Message, error) {
		if err := ioWait(m.Context(), w.cfg.HandlerDelay); err != nil {
			return nil, err
		}
		var r Ritual
		if err := json.Unmarshal(m.Payload, &r); err != nil {
			return nil, err
		}
		w.rec.organ(stage)
		add(&r)
		b, err := json.Marshal(r)
		if err != nil {
			return nil, err
		}
		return []*message.Message{message.NewMessage(watermill.NewUUID(), b)}, nil
	}
}

func (w *watermillChain) scribe(m *message.Message) ([]*message.Message, error) {
	if err := ioWait(m.Context(), w.cfg.HandlerDelay); err != nil {
		return nil, err
	}
	var r Ritual
	if err := json.Unmarshal(m.Payload, &r); err != nil {
		return nil, err
	}
	w.rec.organ(stageScribe)
	w.rec.omen(r)
	return nil, nil
}

// start runs the router and returns once its handlers are subscribed.
func (w *watermillChain) start(ctx context.Context) error {
	ctx, w.cancel = context.WithCancel(ctx)
	w.runErr = make(chan error, 1)
	go func() { w.runErr <- w.router.Run(ctx) }()
	select {
	case <-w.router.Running():
		return nil
	case err := <-w.runErr:
		w.runErr <- err // for stop
		return fmt.Errorf("watermill router: %v", err)
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (w *watermillChain) seed(ctx context.Context, batch []Ritual) error {
	msgs := make([]*message.Message, len(batch))
	for i, r := range batch {
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		msgs[i] = message.NewMessage(watermill.NewUUID(), b)
	}
	if w.rdb == nil {
		return w.pub.Publish(w.topics[stageSummoner], msgs...)
	}
	// The publisher XADDs one message per round trip; the seeds go in one
	// pipeline instead, in the entry layout its marshaller writes, as for
	// NecroStack.
	var m redisstream.DefaultMarshallerUnmarshaller
	pipe := w.rdb.Pipeline()
	for _, msg := range msgs {
		values, err := m.Marshal(w.topics[stageSummoner], msg)
		if err != nil {
			return err
		}
		pipe.XAdd(ctx, &goredis.XAddArgs{Stream: w.topics[stageSummoner], Values: values})
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("seed %s: %w", w.topics[stageSummoner], err)
	}
	return nil
}

func (w *watermillChain) failed(context.Context) error {
	select {
	case err := <-w.runErr:
		w.runErr <- err
		return fmt.Errorf("watermill router stopped early: %v", err)
	default:
		return nil
	}
}

// stop closes the router (waiting for its handlers), the pub/subs and
// clients, and deletes the run's streams.
func (w *watermillChain) stop(ctx context.Context) error {
	errs := []error{w.router.Close()}
	w.cancel()
	errs = append(errs, <-w.runErr)
	if w.rdb != nil {
		errs = append(errs, w.rdb.Del(ctx, w.topics[:]...).Err())
	}
	return w.closeAll(errors.Join(errs...))
}

// closeAll closes what was opened, last first, and joins the errors to err.
func (w *watermillChain) closeAll(err error) error {
	errs := []error{err}
	for i := len(w.closers) - 1; i >= 0; i-- {
		errs = append(errs, w.closers[i]())
	}
	w.closers = nil
	return errors.Join(errs...)
}
