package dlock

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadme runs README.md's program as printed (but for the server's
// port), the same as the repository README's, and compiles its job
// example.
func TestReadme(t *testing.T) {
	s := startServers(t, 1)
	text, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := strings.Split(string(text), "```go\n")
	prog := strings.SplitN(blocks[1], "```", 2)[0]
	job := strings.SplitN(blocks[2], "```", 2)[0]
	top, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	inTop := strings.SplitN(strings.SplitN(string(top), "## A lock in Go\n\n```go\n", 2)[1], "```", 2)[0]
	if inTop != prog {
		t.Fatal("the repository README's Go program is not this README's")
	}
	here, _ := filepath.Abs(".")
	dir := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module readme\n\ngo 1.19\n\nrequire dlock.dev/dlock v0.0.0\n\nreplace dlock.dev/dlock => "+here+"\n")
	write("main.go", strings.Replace(prog, "127.0.0.1:7411", s.addrs[0], 1))
	write("stubs.go", "package main\n\nimport (\n\t\"context\"\n\t\"errors\"\n\t\"fmt\"\n\n\t\"dlock.dev/dlock\"\n)\n\n"+
		"func sendGreetings(token uint64) { fmt.Println(\"sent with token\", token) }\n\n"+
		"func buildReport(ctx context.Context, token uint64) error { return nil }\n\n"+
		"var _ = errors.Is\nvar _ *dlock.Client\n\n"+job)
	cmd := exec.Command("go", "run", ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOTOOLCHAIN=local")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "sent with token ") {
		t.Fatalf("the README's program: %v\n%s", err, out)
	}
}
