package chart_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// renderNotes renders templates/NOTES.txt offline: helm prints NOTES only on install, so a copy of the chart
// turns the file into a named template and renders it as a one-key document.
func renderNotes(t *testing.T, setJSON ...string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "cassfs")
	if err := os.CopyFS(dir, os.DirFS(chartDir(t))); err != nil {
		t.Fatal(err)
	}
	notes, err := os.ReadFile(filepath.Join(dir, "templates", "NOTES.txt"))
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, "templates", "NOTES.txt"))
	tpl := `{{- define "test.notes" -}}` + string(notes) + `{{- end -}}`
	if err := os.WriteFile(filepath.Join(dir, "templates", "_notes.tpl"), []byte(tpl), 0o644); err != nil {
		t.Fatal(err)
	}
	doc := "notes: {{ include \"test.notes\" . | toJson }}\n"
	if err := os.WriteFile(filepath.Join(dir, "templates", "notes.yaml"), []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"template", "cassfs", dir, "--namespace", "cassfs", "--kube-version", kubeVersion, "--show-only", "templates/notes.yaml"}
	for _, s := range setJSON {
		args = append(args, "--set-json", s)
	}
	out, err := runHelm(t, args...)
	if err != nil {
		t.Fatalf("rendering NOTES.txt: %v", err)
	}
	var v struct {
		Notes string `json:"notes"`
	}
	if err := yaml.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("decoding rendered NOTES: %v\n%s", err, out)
	}
	return v.Notes
}

func TestNotes(t *testing.T) {
	n := renderNotes(t)
	for _, want := range []string{"csi.cassfs.io", "Cassandra: cassandra:9042", "ZooKeeper: zookeeper:2181 (root /cassfs)",
		"storageClassName: cassfs", "kubectl -n cassfs get pods -l app.kubernetes.io/instance=cassfs"} {
		if !strings.Contains(n, want) {
			t.Errorf("NOTES lack %q:\n%s", want, n)
		}
	}
	n = renderNotes(t, "zookeeper.servers=[]", "storageClasses=[]")
	for _, want := range []string{"ZooKeeper: none. WARNING", "No StorageClass was created"} {
		if !strings.Contains(n, want) {
			t.Errorf("NOTES without ZooKeeper and StorageClasses lack %q:\n%s", want, n)
		}
	}
}
