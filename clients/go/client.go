// Package dlock is a client of the dlock lock service, in the standard
// library only: sessions kept alive by the library, locks with fencing
// tokens, and the holder told (a channel closed) the moment a lock can no
// longer be proven held. It speaks dlock's protocol (RESP,
// docs/protocol.md) directly.
//
//	client, err := dlock.New(dlock.Options{Servers: "127.0.0.1:7411"})
//	if err != nil { ... }
//	defer client.Close(context.Background())
//	lock, err := client.Lock(ctx, "birthday-mails", 30*time.Second)
//	if err != nil { ... }
//	defer lock.Unlock(context.Background())
//	sendGreetings(lock.Token())
package dlock

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Options of a client. Each has a default.
type Options struct {
	// Servers: "host:port,host:port", any servers of the cluster
	// ($DLOCK_SERVERS, else 127.0.0.1:7411).
	Servers string
	// Timeout: the longest a call waits for an answer, across redirects,
	// elections and reconnects (a blocking acquire waits its own time on
	// top). Default 10 s.
	Timeout time.Duration
	// Name: the client's name, shown by the server.
	Name string
	// SessionTTL: the lease of the session Client.Lock and the other
	// shortcuts open on first use. Default 10 s.
	SessionTTL time.Duration
	// TLS: the CA (PEM) of the servers' certificates ($DLOCK_TLS_CA), and
	// this client's certificate and key ($DLOCK_TLS_CERT, $DLOCK_TLS_KEY).
	TLSCA, TLSCert, TLSKey string
	// User and Password: every connection logs in ($DLOCK_USER,
	// $DLOCK_PASSWORD).
	User, Password string
}

// Client is a client of a dlock cluster. It finds the leader itself (a
// follower answers LEADER host:port), reconnects after failures and sends
// each write again with its request id, so that no request has a second
// effect. Safe for concurrent use: each call takes a connection of its
// own from a pool.
type Client struct {
	servers  []string
	timeout  time.Duration
	name     string
	ttl      time.Duration
	tls      *tls.Config
	user     string
	password string
	prefix   string
	count    atomic.Uint64

	mu       sync.Mutex
	idle     map[string][]*conn
	leader   string
	next     int
	reached  bool
	closed   bool
	session  *Session
	sessions map[*Session]bool
	last     string
}

func env(name, given string) string {
	if given != "" {
		return given
	}
	return os.Getenv(name)
}

// New makes a client; no connection yet (the first call connects).
func New(o Options) (*Client, error) {
	s := env("DLOCK_SERVERS", o.Servers)
	if s == "" {
		s = "127.0.0.1:7411"
	}
	c := &Client{timeout: o.Timeout, name: o.Name, ttl: o.SessionTTL, idle: map[string][]*conn{},
		sessions: map[*Session]bool{}}
	for _, a := range strings.Split(s, ",") {
		a = strings.TrimSpace(a)
		if a == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(a); err != nil {
			return nil, fmt.Errorf("dlock: a server address is host:port, not %q", a)
		}
		c.servers = append(c.servers, a)
	}
	if len(c.servers) == 0 {
		return nil, errors.New("dlock: no server given")
	}
	if c.timeout == 0 {
		c.timeout = 10 * time.Second
	}
	if c.ttl == 0 {
		c.ttl = 10 * time.Second
	}
	c.user = env("DLOCK_USER", o.User)
	c.password = env("DLOCK_PASSWORD", o.Password)
	if ca := env("DLOCK_TLS_CA", o.TLSCA); ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, fmt.Errorf("dlock: the TLS files do not load: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("dlock: the TLS files do not load: no certificate in %s", ca)
		}
		c.tls = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		if cert := env("DLOCK_TLS_CERT", o.TLSCert); cert != "" {
			key := env("DLOCK_TLS_KEY", o.TLSKey)
			if key == "" {
				key = cert
			}
			kp, err := tls.LoadX509KeyPair(cert, key)
			if err != nil {
				return nil, fmt.Errorf("dlock: the TLS files do not load: %w", err)
			}
			c.tls.Certificates = []tls.Certificate{kp}
		}
	}
	r := make([]byte, 6)
	_, _ = rand.Read(r)
	c.prefix = "go-" + hex.EncodeToString(r) + "-"
	return c, nil
}

func (c *Client) newReq() string {
	return c.prefix + strconv.FormatUint(c.count.Add(1), 10)
}

// LastServer is the "host:port" of the server that answered the latest call.
func (c *Client) LastServer() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}

func (c *Client) take(ctx context.Context, addr string, timeout time.Duration) (*conn, error) {
	c.mu.Lock()
	if q := c.idle[addr]; len(q) > 0 {
		cn := q[len(q)-1]
		c.idle[addr] = q[:len(q)-1]
		c.mu.Unlock()
		return cn, nil
	}
	c.mu.Unlock()
	return dial(ctx, addr, timeout, c.tls, c.user, c.password)
}

func (c *Client) give(cn *conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed && len(c.idle[cn.addr]) < 16 {
		c.idle[cn.addr] = append(c.idle[cn.addr], cn)
		return
	}
	cn.close()
}

func (c *Client) rotate(addr string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.leader == addr {
		c.leader = ""
	}
	c.next++
	return c.servers[c.next%len(c.servers)]
}

// Do sends a command to the leader and returns its reply, following
// LEADER redirects, waiting out elections (NOLEADER) and reconnecting
// until it is answered, ctx ends or the time runs out. A write must carry
// its REQ id, so that sending it again is safe. With wait, args hold WAIT
// ms, which each repeat sets to the wait left.
func (c *Client) Do(ctx context.Context, wait time.Duration, args ...any) (any, error) {
	start := time.Now()
	deadline := start.Add(c.timeout + wait)
	waitEnd := start.Add(wait)
	args = append([]any(nil), args...)
	at := -1
	if wait > 0 {
		for i, a := range args {
			if a == "WAIT" && i+1 < len(args) {
				at = i + 1
			}
		}
	}
	c.mu.Lock()
	addr := c.leader
	if addr == "" {
		addr = c.servers[c.next%len(c.servers)]
	}
	c.mu.Unlock()
	refused := map[string]bool{}
	sent := false
	last := ""
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		left := time.Until(deadline)
		if left <= 0 {
			break
		}
		if at >= 0 {
			ms := time.Until(waitEnd).Milliseconds()
			if ms < 1 {
				ms = 1
			}
			args[at] = ms
		}
		cn, err := c.take(ctx, addr, minDur(left, 2*time.Second))
		if err != nil {
			var se *ServerError
			if errors.As(err, &se) {
				return nil, err
			}
			last = addr + ": " + err.Error()
			var oe *net.OpError
			if errors.As(err, &oe) && strings.Contains(err.Error(), "refused") {
				refused[addr] = true
				c.mu.Lock()
				never := !c.reached
				c.mu.Unlock()
				if never && len(refused) == len(c.servers) {
					return nil, &wrapped{kind: ErrUnavailable, msg: "dlock: every server refused the connection (" +
						strings.Join(c.servers, ", ") + "): nothing is listening there; check the server list, or start the servers"}
				}
			}
			addr = c.rotate(addr)
			sleepCtx(ctx, minDur(50*time.Millisecond, time.Until(deadline)))
			continue
		}
		c.mu.Lock()
		c.reached = true
		c.mu.Unlock()
		callTimeout := minDur(left, maxDur(0, time.Until(waitEnd))+maxDur(time.Second, c.timeout/3))
		v, err := cn.call(ctx, args, callTimeout)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			sent, last = true, addr+": "+err.Error()
			addr = c.rotate(addr)
			continue
		}
		c.give(cn)
		if e, ok := v.(errorReply); ok {
			f := strings.Fields(string(e))
			switch e.code() {
			case "LEADER":
				if len(f) >= 2 {
					addr = f[1]
					c.mu.Lock()
					c.leader = addr
					c.mu.Unlock()
					continue
				}
			case "NOLEADER":
				sent, last = true, addr+": "+string(e)
				sleepCtx(ctx, minDur(50*time.Millisecond, time.Until(deadline)))
				addr = c.rotate(addr)
				continue
			}
			return nil, &ServerError{Code: e.code(), Message: string(e)}
		}
		c.mu.Lock()
		c.leader, c.last = addr, addr
		c.mu.Unlock()
		return v, nil
	}
	if sent {
		return nil, &wrapped{kind: ErrOutcomeUnknown, msg: fmt.Sprintf("dlock: no answer to %v in %v (last: %s); sending it again is safe", args[0], c.timeout+wait, last)}
	}
	return nil, &wrapped{kind: ErrUnavailable, msg: fmt.Sprintf("dlock: no server reachable for %v in %v (last: %s)", args[0], c.timeout+wait, last)}
}

func minDur(a, b time.Duration) time.Duration {
	if a < b {
		return a
	}
	return b
}

func maxDur(a, b time.Duration) time.Duration {
	if a > b {
		return a
	}
	return b
}

func sleepCtx(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// Close closes the client's sessions (their locks are released) and its
// connections.
func (c *Client) Close(ctx context.Context) error {
	c.mu.Lock()
	all := make([]*Session, 0, len(c.sessions))
	for s := range c.sessions {
		all = append(all, s)
	}
	c.mu.Unlock()
	for _, s := range all {
		_ = s.Close(ctx)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	for _, q := range c.idle {
		for _, cn := range q {
			cn.close()
		}
	}
	c.idle = map[string][]*conn{}
	return nil
}

// fields reads a flat array of field, value pairs.
func fields(v any) map[string]any {
	m := map[string]any{}
	l, _ := v.([]any)
	for i := 0; i+1 < len(l); i += 2 {
		k, _ := l[i].([]byte)
		val := l[i+1]
		if b, ok := val.([]byte); ok {
			val = string(b)
		}
		m[string(k)] = val
	}
	return m
}

// LockStatus reads a lock (LOCK.STATUS): its fields, as docs/protocol.md
// §4 lists them.
func (c *Client) LockStatus(ctx context.Context, name string) (map[string]any, error) {
	v, err := c.Do(ctx, 0, "LOCK.STATUS", name)
	if err != nil {
		return nil, err
	}
	return fields(v), nil
}

// Leader reads an election (ELECT.LEADER).
func (c *Client) Leader(ctx context.Context, name string) (map[string]any, error) {
	v, err := c.Do(ctx, 0, "ELECT.LEADER", name)
	if err != nil {
		return nil, err
	}
	return fields(v), nil
}
