package persist

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

type answer struct {
	Generation int      `json:"generation"`
	Items      []string `json:"items"`
}

func TestSaveLoadRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state", "nested")
	var got answer
	found, err := Load(dir, "file", &got)
	if err != nil || found {
		t.Fatalf("Load before Save = found %v, err %v; want false, nil", found, err)
	}
	want := answer{Generation: 3, Items: []string{"a", "b"}}
	if err := Save(dir, "file", want); err != nil {
		t.Fatal(err)
	}
	found, err = Load(dir, "file", &got)
	if err != nil || !found {
		t.Fatalf("Load = found %v, err %v", found, err)
	}
	if got.Generation != 3 || strings.Join(got.Items, ",") != "a,b" {
		t.Fatalf("Load = %+v, want %+v", got, want)
	}
	st, err := os.Stat(Path(dir, "file"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("file mode = %v, want 0600", st.Mode().Perm())
	}
	dst, _ := os.Stat(dir)
	if dst.Mode().Perm() != 0o700 {
		t.Errorf("dir mode = %v, want 0700", dst.Mode().Perm())
	}
	// Overwrite replaces the whole answer and leaves no temporary file behind.
	if err := Save(dir, "file", answer{Generation: 4}); err != nil {
		t.Fatal(err)
	}
	got = answer{}
	if _, err := Load(dir, "file", &got); err != nil || got.Generation != 4 || len(got.Items) != 0 {
		t.Fatalf("after overwrite Load = %+v, %v", got, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("state dir holds %d entries, want only file.json: %v", len(entries), entries)
	}
}

func TestBadNames(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"", ".", "..", "a/b", ".hidden", `a\b`} {
		if err := Save(dir, name, 1); err == nil {
			t.Errorf("Save(%q) succeeded, want error", name)
		}
		if _, err := Load(dir, name, new(int)); err == nil {
			t.Errorf("Load(%q) succeeded, want error", name)
		}
	}
}

// A Save interrupted after writing part of its temporary file must not affect Load.
func TestPartialTempFileIgnored(t *testing.T) {
	dir := t.TempDir()
	if err := Save(dir, "peerapi", answer{Generation: 1, Items: []string{"x"}}); err != nil {
		t.Fatal(err)
	}
	partial := filepath.Join(dir, ".peerapi.tmp-123456")
	if err := os.WriteFile(partial, []byte(`{"generation": 2, "items": ["x", "y`), 0o600); err != nil {
		t.Fatal(err)
	}
	var got answer
	found, err := Load(dir, "peerapi", &got)
	if err != nil || !found || got.Generation != 1 {
		t.Fatalf("Load with a partial temp file = %+v found %v err %v; want generation 1", got, found, err)
	}
	// A later Save succeeds and the old leftover is cleaned once stale.
	old := time.Now().Add(-time.Hour)
	os.Chtimes(partial, old, old)
	if err := Save(dir, "peerapi", answer{Generation: 5}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(partial); !os.IsNotExist(err) {
		t.Errorf("stale temp file still present: %v", err)
	}
}

// A damaged final file is reported, not mistaken for "never saved".
func TestDamagedFileIsError(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(Path(dir, "core"), []byte(`{"generation":`), 0o600); err != nil {
		t.Fatal(err)
	}
	found, err := Load(dir, "core", new(answer))
	if err == nil || !found {
		t.Fatalf("Load of damaged file = found %v err %v; want found and an error", found, err)
	}
	if !strings.Contains(err.Error(), "core.json") {
		t.Errorf("error %q does not name the file", err)
	}
}

const helperEnv = "EDGEAGENT_PERSIST_HELPER_DIR"

// TestHelperSaveLoop is not a test: it is the child process of TestCrashDuringSave, which kills
// it with SIGKILL at a random moment while it saves in a loop.
func TestHelperSaveLoop(t *testing.T) {
	dir := os.Getenv(helperEnv)
	if dir == "" {
		t.Skip("helper process for TestCrashDuringSave")
	}
	big := make([]string, 20000)
	for i := range big {
		big[i] = "item-" + strconv.Itoa(i)
	}
	for g := 1; ; g++ {
		if err := Save(dir, "loop", answer{Generation: g, Items: big[:1000+g%19000]}); err != nil {
			os.Exit(3)
		}
	}
}

// TestCrashDuringSave kills a process that saves in a loop and checks that the file on disk is
// always one complete answer.
func TestCrashDuringSave(t *testing.T) {
	if os.Getenv(helperEnv) != "" {
		t.Skip("running as helper")
	}
	dir := t.TempDir()
	for round := 0; round < 8; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperSaveLoop$")
		cmd.Env = append(os.Environ(), helperEnv+"="+dir)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Wait until at least one answer exists, then kill at a varying moment.
		deadline := time.Now().Add(10 * time.Second)
		for {
			if _, err := os.Stat(Path(dir, "loop")); err == nil {
				break
			}
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatal("helper never saved")
			}
			time.Sleep(time.Millisecond)
		}
		time.Sleep(time.Duration(round*7+3) * time.Millisecond)
		cmd.Process.Kill()
		cmd.Wait()

		var got answer
		found, err := Load(dir, "loop", &got)
		if err != nil || !found {
			t.Fatalf("round %d: Load after kill = found %v err %v", round, found, err)
		}
		if got.Generation < 1 || len(got.Items) != 1000+got.Generation%19000 {
			t.Fatalf("round %d: answer is not complete: generation %d with %d items", round, got.Generation, len(got.Items))
		}
	}
}
