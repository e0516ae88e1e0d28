package driver

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"
)

// stagedVolume records one NodeStageVolume that succeeded, and the NodePublishVolume bind mounts made from it.
type stagedVolume struct {
	VolumeID    string  `json:"volumeID"`
	StagingPath string  `json:"stagingPath"`
	ReadOnly    bool    `json:"readOnly"`
	Sharing     Sharing `json:"sharing"`
	// SingleWriter: staged as SINGLE_NODE_SINGLE_WRITER (ReadWriteOncePod): at most one target at a time.
	SingleWriter bool              `json:"singleWriter,omitempty"`
	Context      map[string]string `json:"context,omitempty"`
	// Cred is kept so that a restarted plugin can mount the volume again without the CO's help (kubelet does not
	// repeat NodeStageVolume). The state file is therefore written with mode 0600.
	Cred    Credentials       `json:"credentials"`
	Targets map[string]target `json:"targets,omitempty"` // by target path
}

// target is one bind mount of a staged volume.
type target struct {
	ReadOnly   bool     `json:"readOnly"`
	MountFlags []string `json:"mountFlags,omitempty"`
}

// stateFileName is the file under the state directory.
const stateFileName = "node-state.json"

// nodeState is the set of staged volumes, kept in memory and (when dir is set) in a JSON file that is replaced
// atomically on every change. It is safe for concurrent use; callers get and put copies.
type nodeState struct {
	dir  string
	mu   sync.Mutex
	vols map[string]stagedVolume // by staging path
}

// loadState reads the state file in dir; a missing file is an empty state. dir "" keeps the state in memory only.
func loadState(dir string) (*nodeState, error) {
	s := &nodeState{dir: dir, vols: make(map[string]stagedVolume)}
	if dir == "" {
		return s, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	b, err := os.ReadFile(filepath.Join(dir, stateFileName))
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read node state: %w", err)
	}
	var file struct {
		Volumes []stagedVolume `json:"volumes"`
	}
	if err := json.Unmarshal(b, &file); err != nil {
		return nil, fmt.Errorf("parse node state %s: %w", filepath.Join(dir, stateFileName), err)
	}
	for _, v := range file.Volumes {
		s.vols[v.StagingPath] = v
	}
	return s, nil
}

// get returns the volume staged at stagingPath.
func (s *nodeState) get(stagingPath string) (stagedVolume, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.vols[stagingPath]
	return v.clone(), ok
}

// all returns every staged volume, ordered by staging path.
func (s *nodeState) all() []stagedVolume {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]stagedVolume, 0, len(s.vols))
	for _, v := range s.vols {
		out = append(out, v.clone())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].StagingPath < out[j].StagingPath })
	return out
}

// findPath returns the staged volume whose staging path or one of whose targets is path.
func (s *nodeState) findPath(path string) (stagedVolume, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.vols[path]; ok {
		return v.clone(), true
	}
	for _, v := range s.vols {
		if _, ok := v.Targets[path]; ok {
			return v.clone(), true
		}
	}
	return stagedVolume{}, false
}

// update applies fn to the record at stagingPath (a zero record with ok false if there is none; fn returns
// keep=false to delete it) and saves. On a save error the change is undone, so memory and file agree.
func (s *nodeState) update(stagingPath string, fn func(v *stagedVolume, ok bool) (keep bool)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.vols[stagingPath]
	v := old.clone()
	if fn(&v, ok) {
		s.vols[stagingPath] = v
	} else {
		delete(s.vols, stagingPath)
	}
	if err := s.saveLocked(); err != nil {
		if ok {
			s.vols[stagingPath] = old
		} else {
			delete(s.vols, stagingPath)
		}
		return err
	}
	return nil
}

// saveLocked writes the state to a temporary file, syncs it and renames it over the old one.
func (s *nodeState) saveLocked() error {
	if s.dir == "" {
		return nil
	}
	var file struct {
		Volumes []stagedVolume `json:"volumes"`
	}
	for _, v := range s.vols {
		file.Volumes = append(file.Volumes, v)
	}
	sort.Slice(file.Volumes, func(i, j int) bool { return file.Volumes[i].StagingPath < file.Volumes[j].StagingPath })
	b, err := json.MarshalIndent(&file, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(s.dir, stateFileName+".tmp*")
	if err != nil {
		return fmt.Errorf("save node state: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename this fails harmlessly
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("save node state: %w", err)
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("save node state: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("save node state: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save node state: %w", err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(s.dir, stateFileName)); err != nil {
		return fmt.Errorf("save node state: %w", err)
	}
	if d, err := os.Open(s.dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

func (v stagedVolume) clone() stagedVolume {
	c := v
	if v.Context != nil {
		c.Context = make(map[string]string, len(v.Context))
		for k, x := range v.Context {
			c.Context[k] = x
		}
	}
	if v.Targets != nil {
		c.Targets = make(map[string]target, len(v.Targets))
		for k, t := range v.Targets {
			c.Targets[k] = t
		}
	}
	return c
}
