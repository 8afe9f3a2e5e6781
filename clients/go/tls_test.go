package dlock

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

func openssl(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("openssl", args...).CombinedOutput(); err != nil {
		t.Fatalf("openssl %v: %v\n%s", args, err, out)
	}
}

// TestTLSAndLogin: certificates made by openssl, a server that requires
// client certificates and users; the client checks the server, presents
// its own, logs in; a wrong password is ErrAuth.
func TestTLSAndLogin(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("no openssl command")
	}
	d := t.TempDir()
	p := func(n string) string { return filepath.Join(d, n) }
	ec := []string{"-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-noenc"}
	openssl(t, append(append([]string{"req", "-x509", "-new"}, ec...), "-keyout", p("ca.key"),
		"-out", p("ca.crt"), "-days", "30", "-subj", "/CN=ca")...)
	cert := func(name, usage, san string) {
		openssl(t, append(append([]string{"req", "-x509", "-new"}, ec...), "-CA", p("ca.crt"),
			"-CAkey", p("ca.key"), "-days", "30", "-subj", "/CN="+name,
			"-addext", "basicConstraints=critical,CA:FALSE", "-addext", "subjectAltName="+san,
			"-addext", "extendedKeyUsage="+usage, "-keyout", p(name+".key"), "-out", p(name+".crt"))...)
	}
	cert("server", "serverAuth,clientAuth", "DNS:localhost,IP:127.0.0.1")
	cert("alice", "clientAuth", "DNS:alice")
	if err := os.WriteFile(p("users"), []byte("admin PASSWORD adminpw ALLOW all ADMIN *\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startTLS(t, "--tls-cert-file", p("server.crt"), "--tls-key-file", p("server.key"),
		"--tls-ca-cert-file", p("ca.crt"), "--users-file", p("users"), "--password-iterations", "1000")
	o := Options{Servers: s, Timeout: 5 * time.Second, TLSCA: p("ca.crt"), TLSCert: p("alice.crt"),
		TLSKey: p("alice.key"), User: "admin", Password: "adminpw"}
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(bg)
	// The users of --users-file are set once the server leads: until then
	// a login is refused.
	var l *Lock
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if l, err = c.TryLock(bg, "secure"); !errors.Is(err, ErrAuth) {
			break
		}
	}
	if err != nil || l.Token() < 1 {
		t.Fatalf("over TLS, logged in: %v", err)
	}
	_ = l.Unlock(bg)
	o.Password = "wrong"
	bad, _ := New(o)
	if _, err := bad.LockStatus(bg, "secure"); !errors.Is(err, ErrAuth) {
		t.Fatalf("a wrong password: %v", err)
	}
}

// startTLS starts one dlockd with TLS on its port, ready when it accepts.
func startTLS(t *testing.T, extra ...string) string {
	port, raft := freePort(t), freePort(t)
	bin := os.Getenv("DLOCKD")
	if bin == "" {
		bin = "../../build/dlockd"
	}
	bin, _ = filepath.Abs(bin)
	addr := "127.0.0.1:" + itoa(port)
	cmd := exec.Command(bin, append([]string{"--listen", addr, "--raft", "127.0.0.1:" + itoa(raft),
		"--data", filepath.Join(t.TempDir(), "data"), "--log-level", "warn", "--http", "off"}, extra...)...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	end := time.Now().Add(15 * time.Second)
	for time.Now().Before(end) {
		if c, err := dialTCP(addr); err == nil {
			c.Close()
			return addr
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("dlockd with TLS did not start")
	return ""
}
