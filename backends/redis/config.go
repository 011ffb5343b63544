package redis

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Mode selects how a Backend reads the stream.
type Mode int

const (
	// ModeGroup reads through a consumer group (XREADGROUP): entries are
	// shared between the workers of the group, acknowledged with XACK,
	// reclaimed from dead workers and dead-lettered after too many
	// deliveries. The default.
	ModeGroup Mode = iota
	// ModeStream reads the stream directly (XREAD) from the position this
	// process reached: no group, no acknowledgement, no redelivery. For a
	// single process that wants Redis as a durable log, and for the
	// simplest setups.
	ModeStream
)

func (m Mode) String() string {
	switch m {
	case ModeGroup:
		return "group"
	case ModeStream:
		return "stream"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Defaults for Config.
const (
	DefaultStream        = "necrostack:events"
	DefaultGroup         = "necrostack"
	DefaultBlock         = time.Second
	DefaultBatch         = 256
	DefaultClaimMinIdle  = 30 * time.Second
	DefaultMaxDeliveries = 5
	DefaultMaxEventBytes = 1 << 20
	DefaultTrimInterval  = 10 * time.Second
	DefaultTimeout       = 2 * time.Second
	// DefaultURL is the server of a Config (and an Inspector) without a
	// URL.
	DefaultURL = "redis://localhost:6379/0"
	// CloseTimeout bounds Close: how long it may take to hand back what it
	// holds, even when Redis does not answer.
	CloseTimeout = 5 * time.Second
	// commitRecordTTL is how long Redis keeps a consumer's record of its
	// last commit, by which a retried commit finds that its reply was lost
	// after it landed (see committer).
	commitRecordTTL = time.Hour
)

// Config configures a Backend. The zero value means every default, with a
// client for redis://localhost:6379.
type Config struct {
	// URL locates the server: redis://[user:password@]host:port[/db] or
	// rediss:// for TLS, with go-redis's query options. With cluster=true
	// among them it is a Redis Cluster, reached through go-redis's cluster
	// client: the host and each addr=host:port are seed nodes
	// (redis://127.0.0.1:7000?cluster=true&addr=127.0.0.1:7001). Ignored
	// when Client is set. Default redis://localhost:6379/0. The password
	// never appears in errors or logs.
	URL string
	// Client is an existing go-redis client (a *Client, *ClusterClient or
	// a failover client from NewUniversalClient), used instead of URL. The
	// Backend does not close it. Give it MaxRetries: -1 and
	// ContextTimeoutEnabled: true, as the Backend's own client has (New
	// warns otherwise): a client that re-sends a command whose reply was
	// lost hides the loss (entries read for this consumer wait ClaimMinIdle
	// instead of being taken back at once, an event enqueued twice), and
	// one that ignores deadlines lets a silent connection hold a read or a
	// commit for its own timeouts.
	Client goredis.UniversalClient

	// Stream is the stream key. Default "necrostack:events". On Redis
	// Cluster give it a hash tag, such as "{necrostack}:events", so that
	// the dead-letter stream lands in the same slot.
	Stream string
	// DeadLetterStream is the dead-letter stream key. Default Stream+":dlq".
	DeadLetterStream string
	// Mode is ModeGroup (the default) or ModeStream.
	Mode Mode
	// Group is the consumer group. Default "necrostack".
	Group string
	// Consumer names this process within the group. Default
	// "<hostname>-<pid>-<random>", unique per process. A name you set must
	// not be shared by two live workers: a worker takes back at start the
	// entries pending under its name, and commits whatever its name owns.
	// A worker restarted under its old name takes its predecessor's
	// pending entries back at once instead of after ClaimMinIdle.
	Consumer string

	// Block bounds each blocking read (XREADGROUP/XREAD BLOCK), and so how
	// long a Pull may take to notice a cancelled context. Never 0 (Redis
	// would block forever). Default 1s.
	Block time.Duration
	// Timeout bounds every command the Backend sends: a blocking read gets
	// Block + Timeout, anything else Timeout (and less when the caller's
	// context ends sooner). A command that times out drops its connection,
	// which is how a silent (half-open) link is found and replaced.
	// Default 2s.
	Timeout time.Duration
	// Batch is the most entries one read fetches (COUNT). In ModeGroup a
	// consumer adapts the count to its handlers: it reads about what it
	// hands out within 20ms, so a consumer with slow handlers reads one
	// entry at a time and leaves the rest to other consumers, and one with
	// quick handlers reads up to Batch. Reclaim lists up to Batch stuck
	// entries at a time but claims no more than the adapted read count,
	// looking again at once while it finds that many. ModeStream always
	// reads Batch. Default 256.
	Batch int
	// ClaimMinIdle is how long an entry must sit unacknowledged with
	// another consumer before this one reclaims it: longer than any handler
	// takes, since a slow consumer's entries look stuck to the others. A
	// consumer never reclaims the entries it is itself holding. Default 30s.
	ClaimMinIdle time.Duration
	// ClaimInterval is how often a consumer looks for stuck entries.
	// Default ClaimMinIdle/2.
	ClaimInterval time.Duration
	// MaxDeliveries is how many times an entry may be delivered before it
	// is dead-lettered instead of delivered again. Default 5.
	MaxDeliveries int
	// MaxEventBytes bounds an event's wire form. Enqueue rejects larger
	// events; larger entries found in the stream are dead-lettered.
	// Default 1 MiB.
	MaxEventBytes int

	// Trim, when set, trims the stream every Trim.Interval. It never
	// removes an entry that any group on the stream has not yet delivered
	// or acknowledged.
	Trim Trim

	// EnqueueDedup, when set, makes Enqueue idempotent by event id within
	// that window: an event enqueued again (a producer retrying after an
	// error whose write had in fact landed) is not stored twice. It costs a
	// key per event for the window (about 100 bytes each: rate × window in
	// all). Without it Enqueue is at-least-once. Default 0: off.
	EnqueueDedup time.Duration
	// WaitReplicas, when positive, makes Enqueue and every commit return
	// only once that many replicas acknowledged the write (Redis WAIT), so
	// that a failover cannot lose what the caller was told is written; see
	// ErrNotReplicated for what happens when fewer answer. Default 0:
	// replication is asynchronous, and a master lost before its replicas
	// had a write loses it.
	WaitReplicas int
	// WaitTimeout bounds each WAIT; it must be below Timeout. Default
	// DefaultWaitTimeout (1s).
	WaitTimeout time.Duration

	// Logger receives the backend's own logs: entries dead-lettered while
	// reading, reclaims, trimming. Default: JSON on stderr at Info.
	Logger *slog.Logger
}

// Trim is an optional retention policy, applied approximately (XTRIM MINID ~)
// every Interval, as far as the policy allows however busy the stream is.
// Entries still pending in any group on the stream, and entries not yet
// delivered to one, are always kept, whatever the policy says: a group that
// stops reading stops the trimming.
type Trim struct {
	// MaxLen keeps about this many entries. 0: no length limit.
	MaxLen int64
	// MaxAge keeps entries younger than this. 0: no age limit.
	MaxAge time.Duration
	// Interval between trims. Default 10s.
	Interval time.Duration
}

func (t Trim) enabled() bool { return t.MaxLen > 0 || t.MaxAge > 0 }

// ConfigError names the Config field that is wrong and why.
type ConfigError struct {
	Field  string
	Reason string
}

func (e *ConfigError) Error() string { return "redis config: " + e.Field + ": " + e.Reason }

func bad(field, format string, args ...any) error {
	return &ConfigError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// check reports the first field set to a value no default can mend.
func (c Config) check() error {
	switch {
	case c.Mode != ModeGroup && c.Mode != ModeStream:
		return bad("Mode", "unknown mode %d", int(c.Mode))
	case c.Block < 0:
		return bad("Block", "%v is negative", c.Block)
	case c.Block > 0 && c.Block < time.Millisecond:
		return bad("Block", "%v is below Redis's 1ms resolution", c.Block)
	case c.Timeout < 0:
		return bad("Timeout", "%v is negative", c.Timeout)
	case c.WaitReplicas < 0:
		return bad("WaitReplicas", "%d is negative", c.WaitReplicas)
	case c.WaitTimeout < 0:
		return bad("WaitTimeout", "%v is negative", c.WaitTimeout)
	case c.WaitTimeout > 0 && c.WaitTimeout < time.Millisecond:
		return bad("WaitTimeout", "%v is below Redis's 1ms resolution (WAIT 0 would wait for ever)", c.WaitTimeout)
	case c.WaitReplicas > 0 && c.Mode == ModeStream:
		return bad("WaitReplicas", "is for ModeGroup: a ModeStream commit keeps no record by which its retry would know it done, and would write twice")
	case c.EnqueueDedup < 0:
		return bad("EnqueueDedup", "%v is negative", c.EnqueueDedup)
	case c.EnqueueDedup > 0 && c.EnqueueDedup < time.Millisecond:
		return bad("EnqueueDedup", "%v is below Redis's 1ms resolution", c.EnqueueDedup)
	case c.Batch < 0:
		return bad("Batch", "%d is negative", c.Batch)
	case c.ClaimMinIdle < 0:
		return bad("ClaimMinIdle", "%v is negative", c.ClaimMinIdle)
	case c.ClaimInterval < 0:
		return bad("ClaimInterval", "%v is negative", c.ClaimInterval)
	case c.MaxDeliveries < 0:
		return bad("MaxDeliveries", "%d is negative", c.MaxDeliveries)
	case c.MaxEventBytes < 0:
		return bad("MaxEventBytes", "%d is negative", c.MaxEventBytes)
	case c.Trim.MaxLen < 0:
		return bad("Trim.MaxLen", "%d is negative", c.Trim.MaxLen)
	case c.Trim.MaxAge < 0:
		return bad("Trim.MaxAge", "%v is negative", c.Trim.MaxAge)
	case c.Trim.Interval < 0:
		return bad("Trim.Interval", "%v is negative", c.Trim.Interval)
	case c.Mode == ModeStream && c.Trim.enabled():
		return bad("Trim", "needs ModeGroup: without a group nothing tells which entries are still needed")
	}
	return nil
}

func (c Config) withDefaults() (Config, error) {
	if err := c.check(); err != nil {
		return c, err
	}
	if c.Stream == "" {
		c.Stream = DefaultStream
	}
	if c.DeadLetterStream == "" {
		c.DeadLetterStream = deadLetterStreamOf(c.Stream)
	}
	if c.DeadLetterStream == c.Stream {
		return c, bad("DeadLetterStream", "is the same key as Stream (%q)", c.Stream)
	}
	if c.Group == "" {
		c.Group = DefaultGroup
	}
	if c.Consumer == "" {
		c.Consumer = defaultConsumer()
	}
	if c.Block == 0 {
		c.Block = DefaultBlock
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Batch == 0 {
		c.Batch = DefaultBatch
	}
	if c.WaitTimeout == 0 {
		c.WaitTimeout = DefaultWaitTimeout
	}
	if c.WaitReplicas > 0 && c.WaitTimeout >= c.Timeout {
		return c, bad("WaitTimeout", "%v is not below Timeout (%v), which bounds the write and its WAIT together", c.WaitTimeout, c.Timeout)
	}
	if c.ClaimMinIdle == 0 {
		c.ClaimMinIdle = DefaultClaimMinIdle
	}
	if c.ClaimInterval == 0 {
		c.ClaimInterval = c.ClaimMinIdle / 2
	}
	if c.MaxDeliveries == 0 {
		c.MaxDeliveries = DefaultMaxDeliveries
	}
	if c.MaxEventBytes == 0 {
		c.MaxEventBytes = DefaultMaxEventBytes
	}
	if c.Trim.Interval == 0 {
		c.Trim.Interval = DefaultTrimInterval
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}
	if _, ok := c.Client.(*goredis.ClusterClient); ok {
		return c, c.checkSlots()
	}
	return c, nil
}

// checkSlots checks, for Redis Cluster, that the keys the backend derives
// from Stream share its slot: the commit touches the stream, the
// dead-letter stream and the consumer's commit record in one script.
func (c Config) checkSlots() error {
	if hashTag(c.Stream) == c.Stream {
		return bad("Stream", "%q has no hash tag: on Redis Cluster give it one, as in {necrostack}:events, so that the keys the backend derives from it share its slot", c.Stream)
	}
	if hashTag(c.Stream) != hashTag(c.DeadLetterStream) {
		return bad("DeadLetterStream", "%q and Stream %q hash to different cluster slots: give both the same hash tag, as in {necrostack}:events",
			c.DeadLetterStream, c.Stream)
	}
	return nil
}

// hashTag returns the part of key that Redis Cluster hashes: the text between
// the first { and the next }, when that is not empty; else the whole key.
func hashTag(key string) string {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			return key[i+1 : i+1+j]
		}
	}
	return key
}

func defaultConsumer() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "necrostack"
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

// clientFromURL parses rawURL and returns a client that never re-sends a
// command by itself and honours deadlines (see Config.Client); errors never
// hold the password.
func clientFromURL(rawURL string) (*goredis.Client, error) {
	if rawURL == "" {
		rawURL = DefaultURL
	}
	opts, err := goredis.ParseURL(rawURL)
	if err != nil {
		return nil, &ConfigError{Field: "URL", Reason: RedactURL(rawURL) + ": " + urlReason(err, rawURL)}
	}
	if u, err := url.Parse(rawURL); err == nil && u.Query().Has("max_retries") && opts.MaxRetries != -1 {
		return nil, &ConfigError{Field: "URL", Reason: fmt.Sprintf("%s: max_retries: the backend retries by itself, knowing what a lost reply means; a client that re-sends a command blindly hides lost replies (remove it, or set -1)", RedactURL(rawURL))}
	}
	ClientDefaults(opts)
	return goredis.NewClient(opts), nil
}

// urlReason is what is wrong with a URL, from its parser's error: without
// the URL (a url.Error quotes it whole) nor the password.
func urlReason(err error, rawURL string) string {
	if ue, ok := errors.AsType[*url.Error](err); ok {
		err = ue.Err
	}
	return Redact(err.Error(), rawURL)
}

// CheckURL reports what is wrong with rawURL as Config.URL, if anything,
// without the password. It opens no connection.
func CheckURL(rawURL string) error {
	c, err := universalFromURL(rawURL)
	if err != nil {
		return err
	}
	return c.Close()
}

// NewClient returns a go-redis client for rawURL as Config.URL reads it
// (cluster=true: a cluster client), with ClientDefaults: for what an
// application reads or writes beside the backend. It opens no connection.
func NewClient(rawURL string) (goredis.UniversalClient, error) { return universalFromURL(rawURL) }

// universalFromURL is clientFromURL, or, for a URL with cluster=true among
// its query parameters, a Redis Cluster client (go-redis's ParseClusterURL:
// the URL's host and each addr= parameter are seed nodes), with the same
// defaults.
func universalFromURL(rawURL string) (goredis.UniversalClient, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Query().Get("cluster") != "true" {
		return clientFromURL(rawURL)
	}
	q := u.Query()
	q.Del("cluster")
	u.RawQuery = q.Encode()
	u.Path = "" // a cluster has one database
	opts, err := goredis.ParseClusterURL(u.String())
	if err != nil {
		return nil, &ConfigError{Field: "URL", Reason: RedactURL(rawURL) + ": " + urlReason(err, rawURL)}
	}
	if q.Has("max_retries") && opts.MaxRetries != -1 {
		return nil, &ConfigError{Field: "URL", Reason: fmt.Sprintf("%s: max_retries: the backend retries by itself, knowing what a lost reply means (remove it, or set -1)", RedactURL(rawURL))}
	}
	opts.MaxRetries, opts.ContextTimeoutEnabled = -1, true
	return goredis.NewClusterClient(opts), nil
}

// ClientDefaults sets on o what the Backend needs of a go-redis client, for
// a client made to share with it through Config.Client: no blind re-sending
// of a command whose reply was lost (MaxRetries -1: the Backend retries
// knowing what a lost reply means), and deadlines honoured
// (ContextTimeoutEnabled), so that a silent connection is given up at the
// Backend's Timeout.
func ClientDefaults(o *goredis.Options) {
	o.MaxRetries, o.ContextTimeoutEnabled = -1, true
}

// clientWarnings says what a user-supplied client does that the Backend's
// own would not (see Config.Client).
func clientWarnings(c goredis.UniversalClient) []string {
	var retries int
	var deadlines bool
	switch c := c.(type) {
	case *goredis.Client:
		retries, deadlines = c.Options().MaxRetries, c.Options().ContextTimeoutEnabled
	case *goredis.ClusterClient:
		retries, deadlines = c.Options().MaxRetries, c.Options().ContextTimeoutEnabled
	default:
		return nil
	}
	var out []string
	if retries > 0 {
		out = append(out, fmt.Sprintf("it re-sends a command whose reply was lost up to %d times (MaxRetries): set MaxRetries: -1, or entries of a lost read wait ClaimMinIdle and a retried Enqueue may store an event twice", retries))
	}
	if !deadlines {
		out = append(out, "it ignores context deadlines (ContextTimeoutEnabled false): set it, or a silent connection holds reads and commits for the client's own timeouts")
	}
	return out
}

// RedactURL returns rawURL with its password replaced by "xxxxx", for logs
// and messages. A string that does not parse keeps only its scheme and host
// part after the last '@'.
func RedactURL(rawURL string) string {
	if u, err := url.Parse(rawURL); err == nil {
		return u.Redacted()
	}
	scheme, rest, ok := strings.Cut(rawURL, "://")
	if !ok {
		return "<unparsable URL>"
	}
	if i := strings.LastIndexByte(rest, '@'); i >= 0 {
		rest = "xxxxx@" + rest[i+1:]
	}
	return scheme + "://" + rest
}

// Redact returns msg with rawURL's password replaced by "xxxxx", however
// msg spells it: as written in the URL, decoded, or escaped for a query or a
// path. go-redis keeps passwords out of its errors, but url.Parse quotes
// the URL it fails on. Use it on any text that may hold a Redis URL's
// password: errors, logs, dead-letter messages.
func Redact(msg, rawURL string) string {
	raw, decoded := passwords(rawURL)
	for _, p := range []string{raw, decoded, url.QueryEscape(decoded), url.PathEscape(decoded)} {
		if p != "" {
			msg = strings.ReplaceAll(msg, p, "xxxxx")
		}
	}
	return msg
}

// passwords returns the password in rawURL as written and decoded, even
// when the URL does not parse (then both are as written).
func passwords(rawURL string) (raw, decoded string) {
	_, rest, ok := strings.Cut(rawURL, "://")
	if !ok {
		return "", ""
	}
	at := strings.LastIndexByte(rest, '@')
	if at < 0 {
		return "", ""
	}
	_, raw, _ = strings.Cut(rest[:at], ":")
	decoded = raw
	if u, err := url.Parse(rawURL); err == nil {
		decoded, _ = u.User.Password()
	}
	return raw, decoded
}

// dlqSuffix makes a stream's default dead-letter stream key.
const dlqSuffix = ":dlq"

// deadLetterStreamOf is the default dead-letter stream of stream.
func deadLetterStreamOf(stream string) string { return stream + dlqSuffix }
