package dlock

import (
	"bufio"
	"context"
	"crypto/tls"
	"net"
	"time"
)

// conn is one connection to one server, one request at a time.
type conn struct {
	addr string
	nc   net.Conn
	r    *bufio.Reader
	buf  []byte
}

func dial(ctx context.Context, addr string, timeout time.Duration, tc *tls.Config, user, password string) (*conn, error) {
	d := net.Dialer{Timeout: timeout}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if tc != nil {
		host, _, _ := net.SplitHostPort(addr)
		cfg := tc.Clone()
		cfg.ServerName = host
		tlsConn := tls.Client(nc, cfg)
		_ = tlsConn.SetDeadline(time.Now().Add(timeout))
		if err := tlsConn.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, &wrapped{kind: ErrUnavailable, msg: "dlock: TLS with " + addr + " failed: " + err.Error()}
		}
		nc = tlsConn
	}
	c := &conn{addr: addr, nc: nc, r: bufio.NewReaderSize(nc, 64<<10)}
	if password != "" {
		args := []any{"AUTH", password}
		if user != "" {
			args = []any{"AUTH", user, password}
		}
		v, err := c.call(ctx, args, timeout)
		if err != nil {
			return nil, err
		}
		if e, ok := v.(errorReply); ok {
			c.close()
			return nil, &ServerError{Code: e.code(), Message: string(e)}
		}
	}
	return c, nil
}

// call sends one request and reads its reply (an errorReply for an error).
// On any failure, or when ctx ends, the connection is closed: the server
// then learns that the caller went away (a blocking acquire given up).
func (c *conn) call(ctx context.Context, args []any, timeout time.Duration) (any, error) {
	deadline := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = c.nc.SetDeadline(deadline)
	if ctx.Done() != nil {
		done := make(chan struct{})
		defer close(done)
		go func() {
			select {
			case <-ctx.Done():
				_ = c.nc.SetDeadline(time.Unix(1, 0)) // unblocks the read
			case <-done:
			}
		}()
	}
	c.buf = appendCommand(c.buf[:0], args)
	if _, err := c.nc.Write(c.buf); err != nil {
		c.close()
		return nil, err
	}
	v, err := readReply(c.r)
	if err != nil {
		c.close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	return v, nil
}

func (c *conn) close() { _ = c.nc.Close() }
