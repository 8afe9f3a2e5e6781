package dlock

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// servers are real dlockd processes on 127.0.0.1 (ephemeral ports, a
// temporary directory), stopped by their pid at the test's end: $DLOCKD,
// default the repository's build/dlockd.
type servers struct {
	t     *testing.T
	addrs []string
	cmds  []*exec.Cmd
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func startServers(t *testing.T, n int, extra ...string) *servers {
	bin := os.Getenv("DLOCKD")
	if bin == "" {
		bin = "../../build/dlockd"
	}
	bin, _ = filepath.Abs(bin)
	dir := t.TempDir()
	s := &servers{t: t}
	ports, raft := make([]int, n), make([]int, n)
	var peers []string
	for i := 0; i < n; i++ {
		ports[i], raft[i] = freePort(t), freePort(t)
		peers = append(peers, fmt.Sprintf("%d=127.0.0.1:%d", i+1, raft[i]))
	}
	for i := 0; i < n; i++ {
		args := []string{"--id", fmt.Sprint(i + 1), "--listen", fmt.Sprintf("127.0.0.1:%d", ports[i]),
			"--raft", fmt.Sprintf("127.0.0.1:%d", raft[i]), "--data", filepath.Join(dir, fmt.Sprint("n", i+1)),
			"--election-ms", "300", "--heartbeat-ms", "30", "--log-level", "warn", "--http", "off"}
		if n > 1 {
			args = append(args, "--peers", strings.Join(peers, ","))
		}
		args = append(args, extra...)
		cmd := exec.Command(bin, args...)
		log, _ := os.Create(filepath.Join(dir, fmt.Sprint("n", i+1, ".log")))
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		s.cmds = append(s.cmds, cmd)
		s.addrs = append(s.addrs, fmt.Sprintf("127.0.0.1:%d", ports[i]))
	}
	t.Cleanup(s.stop)
	for _, a := range s.addrs {
		s.waitPing(a)
	}
	s.leader()
	return s
}

func (s *servers) waitPing(addr string) {
	end := time.Now().Add(15 * time.Second)
	for time.Now().Before(end) {
		if c, err := dial(context.Background(), addr, time.Second, nil, "", ""); err == nil {
			v, err := c.call(context.Background(), []any{"PING"}, time.Second)
			c.close()
			if err == nil && v == "PONG" {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.t.Fatalf("dlockd at %s did not start", addr)
}

// leader is the index of the server that leads now (waiting for one).
func (s *servers) leader() int {
	end := time.Now().Add(15 * time.Second)
	for time.Now().Before(end) {
		for i, a := range s.addrs {
			if s.cmds[i].ProcessState != nil {
				continue
			}
			c, err := dial(context.Background(), a, time.Second, nil, "", "")
			if err != nil {
				continue
			}
			v, err := c.call(context.Background(), []any{"LOCK.STATUS", "leader-probe"}, time.Second)
			c.close()
			if _, ok := v.([]any); err == nil && ok {
				return i
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Fatal("no leader")
	return -1
}

func (s *servers) kill(i int) {
	_ = s.cmds[i].Process.Kill()
	_ = s.cmds[i].Wait()
}

func (s *servers) signal(i int, sig syscall.Signal) { _ = s.cmds[i].Process.Signal(sig) }

func (s *servers) stop() {
	for _, c := range s.cmds {
		if c.ProcessState == nil {
			_ = c.Process.Signal(syscall.SIGCONT)
			_ = c.Process.Signal(syscall.SIGTERM)
			_ = c.Wait()
		}
	}
}

func newClient(t *testing.T, servers string, ttl time.Duration) *Client {
	c, err := New(Options{Servers: servers, Timeout: 5 * time.Second, SessionTTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

func itoa(n int) string { return fmt.Sprint(n) }

func dialTCP(addr string) (net.Conn, error) { return net.DialTimeout("tcp", addr, time.Second) }
